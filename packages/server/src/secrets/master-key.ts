import { hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { atomicWriteFile } from '@updraft/core/fs';
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
  try {
    await atomicWriteFile(file, `${randomBytes(KEY_BYTES).toString('base64')}\n`, {
      mode: 0o600,
      exclusive: true,
    });
  } catch (error) {
    // Another process created the key first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
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
