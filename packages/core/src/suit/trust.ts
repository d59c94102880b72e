import type { KeyObject } from 'node:crypto';
import { keyFamilyOfAlg } from '../cose/cose-algorithms.js';
import { CoreError } from '../errors.js';
import { signingAlgOf } from '../keys/key-pair.js';
import { keyId } from '../keys/key-thumbprint.js';

/** A key the verifier trusts: a public key (P-256/Ed25519) for COSE_Sign1, a secret key for COSE_Mac0. */
export interface TrustedKey {
  readonly key: KeyObject;
  /** Defaults to the RFC 9679 thumbprint of the key (Updraft's kid). Set it to accept another kid. */
  readonly kid?: Uint8Array;
  /** Free label the policy can require, e.g. 'release' or 'deployment'. */
  readonly role?: string;
  /** Human name for messages and summaries. */
  readonly name?: string;
}

/** Which signatures an envelope needs. Default: one valid signature from any trusted key. */
export interface VerifierPolicy {
  /** Distinct trusted keys that must have signed (default 1). */
  readonly minSigners?: number;
  /** Roles that must each be covered by a valid signature (e.g. ['release', 'deployment']). */
  readonly requiredRoles?: readonly string[];
}

/** What verification trusts: keys plus a policy. */
export interface TrustInput {
  readonly keys: readonly TrustedKey[];
  readonly policy?: VerifierPolicy;
}

export interface TrustEntry {
  /** The (cached, frozen) VerifiedSigner this key becomes when a block with `alg` verifies. */
  verified(alg: number): VerifiedSignerShape;
  readonly key: KeyObject;
  readonly kid: Uint8Array;
  readonly kidHex: string;
  readonly family: 'es256' | 'ed25519' | 'hmac';
  readonly role?: string;
  readonly name?: string;
}

/**
 * Trusted keys indexed by kid, with their policy. Build it once and reuse it: it caches what
 * verification needs per key (kid, key family).
 *
 * @example
 * const trust = createTrustStore({
 *   keys: [{ key: releasePub, role: 'release' }, { key: deployPub, role: 'deployment' }],
 *   policy: { requiredRoles: ['release', 'deployment'] },
 * });
 */
export class TrustStore {
  readonly entries: readonly TrustEntry[];
  readonly policy: Required<VerifierPolicy>;
  readonly #byKid: Map<string, TrustEntry[]>;
  readonly #byFamily: Readonly<Record<TrustEntry['family'], readonly TrustEntry[]>>;

  constructor(input: TrustInput) {
    this.entries = input.keys.map((k) => {
      const family = k.key.type === 'secret' ? 'hmac' : signingAlgOf(k.key);
      if (!family || k.key.type === 'private') {
        throw new CoreError(
          'MANIFEST_KEY_INVALID',
          'invalid key: trusted keys are P-256/Ed25519 public keys or HMAC secret keys',
          {
            details: { reason: 'unsupported trusted key', name: k.name ?? null },
          },
        );
      }
      const kid = k.kid ?? keyId(k.key);
      const kidHex = Buffer.from(kid).toString('hex');
      const byAlg = new Map<number, VerifiedSignerShape>();
      const entry: TrustEntry = {
        key: k.key,
        kid,
        kidHex,
        family,
        ...(k.role !== undefined ? { role: k.role } : {}),
        ...(k.name !== undefined ? { name: k.name } : {}),
        verified(alg) {
          let v = byAlg.get(alg);
          if (!v) {
            v = Object.freeze({
              kid,
              kidHex,
              alg,
              ...(k.role !== undefined ? { role: k.role } : {}),
              ...(k.name !== undefined ? { name: k.name } : {}),
            });
            byAlg.set(alg, v);
          }
          return v;
        },
      };
      return entry;
    });
    this.#byKid = new Map();
    for (const e of this.entries) {
      const list = this.#byKid.get(e.kidHex) ?? [];
      list.push(e);
      this.#byKid.set(e.kidHex, list);
    }
    this.#byFamily = {
      es256: this.entries.filter((e) => e.family === 'es256'),
      ed25519: this.entries.filter((e) => e.family === 'ed25519'),
      hmac: this.entries.filter((e) => e.family === 'hmac'),
    };
    this.policy = Object.freeze({
      minSigners: input.policy?.minSigners ?? 1,
      requiredRoles: input.policy?.requiredRoles ?? [],
    });
    if (this.policy.minSigners < 1)
      throw new CoreError('MANIFEST_KEY_INVALID', 'invalid policy: minSigners must be at least 1');
  }

  /** Trusted keys with this kid. */
  byKid(kid: Uint8Array): readonly TrustEntry[] {
    return (
      this.#byKid.get(Buffer.from(kid.buffer, kid.byteOffset, kid.length).toString('hex')) ?? []
    );
  }

  /** Trusted keys that can check a block with this COSE algorithm. */
  forAlg(alg: number): readonly TrustEntry[] {
    const family = alg === 5 ? 'hmac' : keyFamilyOfAlg(alg);
    return family ? this.#byFamily[family] : [];
  }
}

/** Same shape as verify-envelope's VerifiedSigner (declared here to keep the import one-way). */
export interface VerifiedSignerShape {
  readonly kid: Uint8Array;
  readonly kidHex: string;
  readonly alg: number;
  readonly role?: string;
  readonly name?: string;
}

const cache = new WeakMap<TrustInput, TrustStore>();

/** A {@link TrustStore} from keys and a policy (cached per input object). */
export function createTrustStore(input: TrustInput | TrustStore): TrustStore {
  if (input instanceof TrustStore) return input;
  let store = cache.get(input);
  if (!store) {
    store = new TrustStore(input);
    cache.set(input, store);
  }
  return store;
}
