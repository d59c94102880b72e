import { atomicWriteFile } from '@updraft/core/fs';
import { CliError } from './errors.js';

/**
 * The CLI's file writes, through core's atomic write (temp file, fsync, rename, fsync directory):
 * files are 0644 unless `mode` says otherwise, and `overwrite: false` turns an existing file into
 * CLI_FILE_EXISTS (the message names --force).
 */
export async function atomicWrite(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number; overwrite?: boolean } = {},
): Promise<void> {
  try {
    await atomicWriteFile(path, data, {
      mode: options.mode ?? 0o644,
      exclusive: options.overwrite === false,
    });
  } catch (error) {
    if (options.overwrite === false && (error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CliError('CLI_FILE_EXISTS', `refusing to overwrite ${path} (use --force)`, {
        details: { path },
      });
    }
    throw error;
  }
}
