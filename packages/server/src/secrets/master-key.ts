import { hkdfSync, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ServerError } from '../errors.js';

const KEY_BYTES = 32;

/**
 * Reads the 32-byte master key (base64 text) from `file`, creating it on first start with mode
 * 0600. Creation is atomic and race-free: the key is written and fsynced under a temporary name,
 * then hard-linked into place, which fails if another process got there first (then we read theirs).
 */
export async function loadOrCreateMasterKey(file: string): Promise<Buffer> {
  try {
    return parseKey(await readFile(file, 'utf8'), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  try {
    await handle.writeFile(`${randomBytes(KEY_BYTES).toString('base64')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await rm(temp, { force: true });
  }
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return parseKey(await readFile(file, 'utf8'), file);
}

function parseKey(text: string, file: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== KEY_BYTES) {
    throw new ServerError(
      'CONFIG_INVALID',
      `master key file ${file} must hold ${KEY_BYTES} bytes as base64`,
      { exposable: true },
    );
  }
  return key;
}

/** A 32-byte key for one purpose, derived from the master key with HKDF-SHA256. */
export function deriveKey(masterKey: Buffer, purpose: string): Buffer {
  return Buffer.from(
    hkdfSync('sha256', masterKey, Buffer.from('updraft'), Buffer.from(purpose, 'utf8'), 32),
  );
}
