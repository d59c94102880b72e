import { execFile } from 'node:child_process';
import { access, constants, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Null when every tool is on PATH, else a sentence naming the missing ones (tests skip outside CI
 * with it, and fail with it in CI).
 */
export async function missingTools(tools: readonly string[]): Promise<string | null> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const missing: string[] = [];
  for (const tool of tools) {
    let found = false;
    for (const dir of dirs) {
      try {
        await access(join(dir, tool), constants.X_OK);
        found = true;
        break;
      } catch {}
    }
    if (!found) missing.push(tool);
  }
  return missing.length === 0 ? null : `not installed: ${missing.join(', ')}`;
}

/** A file-backed U-Boot environment made by {@link createFileUBootEnv}. */
export interface FileUBootEnv {
  /** The `fw_env.config` to pass as `-c`. */
  readonly config: string;
  /** The environment files (two: a redundant environment). */
  readonly files: readonly [string, string];
}

/**
 * Creates a redundant U-Boot environment in two files of `size` bytes (default 16 KiB) under `dir`
 * with u-boot-tools' `mkenvimage -r`, and the `fw_env.config` that describes them, as a board has
 * it for two copies on eMMC (`/dev/mmcblk0 0x3f8000 0x4000` twice).
 */
export async function createFileUBootEnv(
  dir: string,
  initial: Readonly<Record<string, string>>,
  size = 0x4000,
): Promise<FileUBootEnv> {
  const files = [join(dir, 'uboot-env.0'), join(dir, 'uboot-env.1')] as const;
  const text = Object.entries(initial)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
  for (const file of files) {
    const child = run('mkenvimage', ['-r', '-s', String(size), '-o', file, '-']);
    child.child.stdin?.end(text);
    await child;
  }
  const config = join(dir, 'fw_env.config');
  const hex = `0x${size.toString(16)}`;
  await writeFile(
    config,
    `# device/file  offset  env size\n${files[0]} 0x0 ${hex}\n${files[1]} 0x0 ${hex}\n`,
  );
  return { config, files };
}

/** Creates an empty GRUB environment block (`grub-editenv <file> create`, 1024 bytes) and sets `initial`. */
export async function createGrubEnv(
  file: string,
  initial: Readonly<Record<string, string>>,
): Promise<string> {
  await run('grub-editenv', [file, 'create']);
  const pairs = Object.entries(initial).map(([k, v]) => `${k}=${v}`);
  if (pairs.length > 0) await run('grub-editenv', [file, 'set', ...pairs]);
  return file;
}
