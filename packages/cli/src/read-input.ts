import { readFile, stat } from 'node:fs/promises';
import { CliError } from './errors.js';

/** Largest file the CLI reads whole (keys, envelopes, descriptions); images are streamed. */
export const MAX_WHOLE_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Reads a whole (small) input file, turning every failure into a typed error that names the
 * file and what it was for: `no such key file: release.key`.
 */
export async function readInput(
  path: string,
  what: string,
  maxBytes = MAX_WHOLE_FILE_BYTES,
): Promise<Buffer> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) {
      throw new CliError('CLI_FILE_UNREADABLE', `${what} is not a regular file: ${path}`, {
        details: { path },
      });
    }
    size = info.size;
  } catch (error) {
    throw fileError(error, path, what);
  }
  if (size > maxBytes) {
    throw new CliError(
      'CLI_FILE_TOO_LARGE',
      `${what} is too large: ${path} (${size} > ${maxBytes} bytes)`,
      {
        details: { path, size, maxBytes },
      },
    );
  }
  try {
    return await readFile(path);
  } catch (error) {
    throw fileError(error, path, what);
  }
}

/** A typed error for a failed file access (or `error` itself when it already is one). */
export function fileError(error: unknown, path: string, what: string): unknown {
  if (error instanceof CliError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new CliError('CLI_FILE_NOT_FOUND', `no such ${what}: ${path}`, {
      cause: error,
      details: { path },
    });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EISDIR') {
    return new CliError('CLI_FILE_UNREADABLE', `cannot read ${what}: ${path} (${code})`, {
      cause: error,
      details: { path },
    });
  }
  return error;
}
