import type { X509Certificate } from 'node:crypto';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile, syncDirectory } from '@updraft/core/fs';
import { AgentError } from '../errors.js';
import type { DeviceKey, DeviceKeyHolder } from '../ports/device-key.js';
import { certifiesKey, parseCertificates, toPem } from './pem.js';

/** The device's operational identity: its key and the certificate (with chain) that certifies it. */
export interface DeviceIdentity {
  readonly key: DeviceKey;
  /** The leaf, PEM. */
  readonly certificatePem: string;
  /** Issuers sent along in TLS (leaf excluded), PEM each. */
  readonly chainPem: readonly string[];
  /** Validity of the leaf, ms since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
}

interface IdentityState {
  readonly version: 1;
  /** Label of the key in use (its certificate is `<label>.pem`), or null before enrollment. */
  readonly current: string | null;
  /** Label of a key generated for a (re-)enrollment in progress. */
  readonly pending: string | null;
  /** Labels are `device-<n>`: never reused, so a cut cannot mix an old file with a new key. */
  readonly next: number;
}

const STATE_FILE = 'identity.json';
const MAX_FILE_BYTES = 64 * 1024;
const EMPTY: IdentityState = { version: 1, current: null, pending: null, next: 1 };

/**
 * The agent's identity on disk: `identity.json` names the current key + certificate and a
 * pending key (rotation). Every switch writes the new files first (fsync, rename), then the state
 * file; files no longer named are removed only after that. A power cut at any point therefore
 * leaves the old identity or the new one, both usable, plus at most an orphan that the next open
 * removes.
 *
 * @example
 * const store = await IdentityStore.open(dir, new FileDeviceKeyHolder(dir));
 * const key = await store.pendingKey();           // persisted before the CSR is sent
 * await store.install(certificatePem, chainPem);  // pending → current, atomically
 */
export class IdentityStore {
  readonly #dir: string;
  readonly #keys: DeviceKeyHolder;
  #state: IdentityState;
  #current: DeviceIdentity | null;

  private constructor(
    dir: string,
    keys: DeviceKeyHolder,
    state: IdentityState,
    current: DeviceIdentity | null,
  ) {
    this.#dir = dir;
    this.#keys = keys;
    this.#state = state;
    this.#current = current;
  }

  /** Opens (or creates, mode 0700) the store in `dir` and removes what a power cut orphaned. */
  static async open(dir: string, keys: DeviceKeyHolder): Promise<IdentityStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let state = await readState(dir);
    let current: DeviceIdentity | null = null;
    if (state.current !== null) {
      const key = await keys.open(state.current);
      current = identityOf(key, await readLimited(join(dir, `${state.current}.pem`)));
    }
    const store = new IdentityStore(dir, keys, state, current);
    if (state.pending !== null && !(await keys.list()).includes(state.pending)) {
      // Cut between recording the intent and generating the key: forget the intent.
      state = { ...state, pending: null };
      await store.#save(state);
    }
    await store.#collect();
    return store;
  }

  /** The identity in use, or null before the first enrollment. */
  current(): DeviceIdentity | null {
    return this.#current;
  }

  /**
   * The key for the next (re-)enrollment: the pending one if a previous attempt left it (so a
   * retry after a cut asks for the same key), else a new one. The intent is saved first.
   */
  async pendingKey(): Promise<DeviceKey> {
    const pending = this.#state.pending;
    if (pending !== null) return this.#keys.open(pending);
    const label = `device-${this.#state.next}`;
    await this.#save({ ...this.#state, pending: label, next: this.#state.next + 1 });
    return this.#keys.generate(label);
  }

  /**
   * Drops the pending key (the service refused it, e.g. because a certificate for it was issued
   * but its answer lost in a cut): the next attempt makes a new one.
   */
  async discardPending(): Promise<void> {
    if (this.#state.pending === null) return;
    await this.#save({ ...this.#state, pending: null });
    await this.#collect();
  }

  /**
   * Makes the pending key current with its new certificate (leaf first, then its issuers). The
   * certificate must certify the pending key (`AGENT_CERTIFICATE_INVALID` otherwise). The old key
   * and certificate are deleted after the switch.
   */
  async install(certificates: readonly X509Certificate[]): Promise<DeviceIdentity> {
    const label = this.#state.pending;
    if (label === null) {
      throw new AgentError('AGENT_CERTIFICATE_INVALID', 'no enrollment in progress');
    }
    const key = await this.#keys.open(label);
    const leaf = certificates[0];
    if (leaf === undefined || !certifiesKey(leaf, await key.publicKeySpki())) {
      throw new AgentError(
        'AGENT_CERTIFICATE_INVALID',
        'the certificate does not certify the new key',
      );
    }
    const pem = toPem(certificates);
    await atomicWriteFile(join(this.#dir, `${label}.pem`), pem, { mode: 0o600 });
    await this.#save({ ...this.#state, current: label, pending: null });
    this.#current = identityOf(key, pem);
    await this.#collect();
    return this.#current;
  }

  async #save(state: IdentityState): Promise<void> {
    await atomicWriteFile(join(this.#dir, STATE_FILE), `${JSON.stringify(state)}\n`, {
      mode: 0o600,
    });
    this.#state = state;
  }

  // Removes keys and certificates the state does not name (old identity, orphans of a cut).
  async #collect(): Promise<void> {
    const keep = new Set([this.#state.current, this.#state.pending].filter((l) => l !== null));
    for (const label of await this.#keys.list()) {
      if (!keep.has(label)) await this.#keys.remove(label);
    }
    let removed = false;
    for (const name of await readdir(this.#dir)) {
      const m = /^(device-\d+)\.pem$/.exec(name);
      if (m && !keep.has(m[1]!)) {
        await unlink(join(this.#dir, name)).catch(() => {});
        removed = true;
      }
    }
    if (removed) await syncDirectory(this.#dir);
  }
}

async function readState(dir: string): Promise<IdentityState> {
  let text: string;
  try {
    text = await readLimited(join(dir, STATE_FILE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new AgentError('AGENT_IDENTITY_CORRUPT', `${STATE_FILE} is not JSON`, { cause });
  }
  const label = (v: unknown) => v === null || (typeof v === 'string' && /^device-\d+$/.test(v));
  const s = value as Record<string, unknown>;
  if (
    typeof value !== 'object' ||
    value === null ||
    s.version !== 1 ||
    !label(s.current) ||
    !label(s.pending) ||
    typeof s.next !== 'number' ||
    !Number.isSafeInteger(s.next)
  ) {
    throw new AgentError('AGENT_IDENTITY_CORRUPT', `${STATE_FILE} has an unexpected shape`);
  }
  return value as IdentityState;
}

async function readLimited(path: string): Promise<string> {
  const bytes = await readFile(path);
  if (bytes.length > MAX_FILE_BYTES) {
    throw new AgentError('AGENT_IDENTITY_CORRUPT', `${path} is too large`);
  }
  return bytes.toString('utf8');
}

function identityOf(key: DeviceKey, pem: string): DeviceIdentity {
  const [leaf, ...chain] = parseCertificates(pem, 'AGENT_IDENTITY_CORRUPT', 'device certificate');
  return {
    key,
    certificatePem: leaf!.toString(),
    chainPem: chain.map((c) => c.toString()),
    notBefore: Date.parse(leaf!.validFrom),
    notAfter: Date.parse(leaf!.validTo),
  };
}
