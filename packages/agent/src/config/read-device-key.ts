import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AgentError } from '../errors.js';

/** Largest device key file read (a PEM key or a KEK file is a few hundred bytes). */
const MAX_KEY_FILE_BYTES = 64 * 1024;
const KEK_HEX = /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{64})$/;

/**
 * Reads the device's decryption key (`deviceKeyFile`) in the one format `updraft keys generate`
 * writes (docs/encryption.md):
 * - a class key-encryption key (AES-KW): 16 or 32 bytes as hex text on one line (`--alg a128kw`,
 *   `--alg a256kw`, `<name>.kek`);
 * - a device private key for ECDH-ES: PEM (PKCS#8 or SEC1), P-256 or X25519 (`--alg x25519`).
 * Anything else is `AGENT_CONFIG_INVALID` naming the file and the expected format; the key's
 * bytes never appear in the error.
 */
export async function readDeviceKey(file: string): Promise<KeyObject | Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    throw new AgentError('AGENT_CONFIG_INVALID', `cannot read the device key ${file}`, { cause });
  }
  if (bytes.length > MAX_KEY_FILE_BYTES) {
    throw new AgentError('AGENT_CONFIG_INVALID', `the device key ${file} is too large`);
  }
  const text = bytes.toString('utf8');
  if (text.startsWith('-----BEGIN ')) {
    try {
      return createPrivateKey(text);
    } catch (cause) {
      throw new AgentError('AGENT_CONFIG_INVALID', `the device key ${file} is not a private key`, {
        cause,
      });
    }
  }
  const hex = text.trim();
  if (KEK_HEX.test(hex)) return new Uint8Array(Buffer.from(hex, 'hex'));
  throw new AgentError(
    'AGENT_CONFIG_INVALID',
    `the device key ${file} is neither a PEM private key nor a 16/32-byte KEK in hex (as \`updraft keys generate --alg a128kw\` writes it)`,
    { details: { file, bytes: bytes.length } },
  );
}
