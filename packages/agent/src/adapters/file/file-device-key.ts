import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile, syncDirectory } from '@updraft/core/fs';
import { AgentError } from '../../errors.js';
import type { DeviceKey, DeviceKeyHolder, TlsKey } from '../../ports/device-key.js';

const LABEL = /^[a-z0-9-]{1,64}$/;
const MAX_KEY_FILE_BYTES = 16 * 1024;

/** A P-256 key in a PEM file (PKCS#8, mode 0600) that only the agent's user may read. */
export class FileDeviceKey implements DeviceKey {
  readonly #key: KeyObject;
  readonly #pem: string;

  constructor(
    readonly label: string,
    pem: string,
  ) {
    try {
      this.#key = createPrivateKey(pem);
    } catch (cause) {
      throw new AgentError('AGENT_IDENTITY_CORRUPT', `device key ${label} is not a private key`, {
        cause,
      });
    }
    const details = this.#key.asymmetricKeyDetails;
    if (this.#key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
      throw new AgentError('AGENT_IDENTITY_CORRUPT', `device key ${label} is not an EC P-256 key`);
    }
    this.#pem = pem;
  }

  async publicKeySpki(): Promise<Uint8Array> {
    return new Uint8Array(createPublicKey(this.#key).export({ type: 'spki', format: 'der' }));
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(sign('sha256', data, { key: this.#key, dsaEncoding: 'ieee-p1363' }));
  }

  tlsKey(): TlsKey {
    return { key: this.#pem };
  }
}

/**
 * Device keys as files `<dir>/<label>.key`: generated on the device (never received), written
 * atomically with mode 0600. The folder should be the agent's own (mode 0700).
 */
export class FileDeviceKeyHolder implements DeviceKeyHolder {
  constructor(readonly dir: string) {}

  async generate(label: string): Promise<DeviceKey> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await atomicWriteFile(this.#path(label), pem, { mode: 0o600 });
    return new FileDeviceKey(label, pem);
  }

  async open(label: string): Promise<DeviceKey> {
    let pem: string;
    try {
      const bytes = await readFile(this.#path(label));
      if (bytes.length > MAX_KEY_FILE_BYTES) throw new Error('key file too large');
      pem = bytes.toString('utf8');
    } catch (cause) {
      throw new AgentError('AGENT_IDENTITY_CORRUPT', `device key ${label} cannot be read`, {
        cause,
      });
    }
    return new FileDeviceKey(label, pem);
  }

  async remove(label: string): Promise<void> {
    try {
      await unlink(this.#path(label));
      await syncDirectory(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  async list(): Promise<readonly string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names
      .filter((n) => n.endsWith('.key'))
      .map((n) => n.slice(0, -4))
      .filter((l) => LABEL.test(l));
  }

  #path(label: string): string {
    // Labels are ours (identity store), but a path must never be built from something else.
    if (!LABEL.test(label)) throw new AgentError('AGENT_CONFIG_INVALID', 'bad device key label');
    return join(this.dir, `${label}.key`);
  }
}
