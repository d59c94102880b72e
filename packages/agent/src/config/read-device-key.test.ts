import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readDeviceKey } from './read-device-key.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-device-key-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string | Uint8Array): Promise<string> {
  await writeFile(join(dir, name), content);
  return join(dir, name);
}

describe('readDeviceKey', () => {
  it('reads a KEK as `keys generate` writes it: hex text and a newline', async () => {
    const kek = randomBytes(16);
    expect(await readDeviceKey(await file('c.kek', `${kek.toString('hex')}\n`))).toEqual(
      new Uint8Array(kek),
    );
    const kek256 = randomBytes(32);
    expect(await readDeviceKey(await file('d.kek', kek256.toString('hex')))).toEqual(
      new Uint8Array(kek256),
    );
  });

  it('reads a PEM private key (ECDH-ES device key)', async () => {
    const { privateKey } = generateKeyPairSync('x25519');
    const key = await readDeviceKey(
      await file('device.key', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
    );
    expect(key).toMatchObject({ type: 'private', asymmetricKeyType: 'x25519' });
  });

  it('refuses raw key bytes and a public key with AGENT_CONFIG_INVALID naming the format', async () => {
    await expect(readDeviceKey(await file('raw.kek', randomBytes(16)))).rejects.toMatchObject({
      code: 'AGENT_CONFIG_INVALID',
      message: expect.stringMatching(/KEK in hex/),
    });
    const { publicKey } = generateKeyPairSync('x25519');
    await expect(
      readDeviceKey(
        await file('device.pub', publicKey.export({ type: 'spki', format: 'pem' }) as string),
      ),
    ).rejects.toMatchObject({ code: 'AGENT_CONFIG_INVALID' });
  });
});
