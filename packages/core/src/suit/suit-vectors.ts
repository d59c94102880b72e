// Test support (not exported from the package): the public SUIT test vectors kept in
// packages/core/testdata/suit-vectors/ and Updraft's index of what each must verify or decrypt to.
// Every core test that reads a published vector goes through this module, so the folder is named
// in one place. Where the files come from: testdata/suit-vectors/PROVENANCE.md.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BugError } from '../errors.js';
import { type CoseKey, coseKeyToKeyObject, decodeCoseKey } from '../keys/cose-key.js';
import type { SeverableMember } from './suit-labels.js';

/** Where a vector comes from (details in the index's `sources` and in PROVENANCE.md). */
export type SuitVectorSource = 'manifest-draft' | 'libcsuit' | 'encryption-draft' | 'updraft';

/** A published test key. `coseKey` is the key's COSE_Key encoding, in hex. */
export interface SuitVectorKey {
  readonly kind: 'ec2-p256-public' | 'ec2-p256-private' | 'symmetric';
  readonly pem?: string;
  readonly kid?: string;
  readonly coseKey: string;
  readonly usedFor: string;
}

/** What verifying an envelope with its key must give. */
export type SuitEnvelopeExpectation =
  | {
      readonly verdict: 'authentic';
      readonly sequenceNumber: number;
      /** Component ids, each an array of hex-encoded bstr elements. */
      readonly components: readonly (readonly string[])[];
      /** Severable members absent from the envelope (their digests stay in the manifest). */
      readonly severed: readonly SeverableMember[];
    }
  | { readonly verdict: 'rejected'; readonly code: string };

/** A SUIT envelope vector. */
export interface SuitEnvelopeVector {
  readonly file: string;
  readonly source: SuitVectorSource;
  /** The file in the source repository (published vectors). */
  readonly origin?: string;
  /** The vector this one was edited from, and the edit (negative vectors made here). */
  readonly derivedFrom?: string;
  readonly edit?: string;
  readonly sha256: string;
  readonly verifyWith: string;
  readonly expect: SuitEnvelopeExpectation;
}

/** A detached encrypted payload with its SUIT_Encryption_Info. */
export interface SuitEncryptedPayloadVector {
  readonly id: string;
  readonly info: string;
  readonly payload: string;
  readonly source: SuitVectorSource;
  readonly origin: string;
  readonly infoSha256: string;
  readonly payloadSha256: string;
  readonly decryptWith: string;
  readonly expect: {
    readonly contentAlgorithm: string;
    readonly keyDistribution: string;
    readonly iv: string;
    readonly cek: string;
    readonly plaintext: string;
    /** ECDH-ES only: the derived key-encryption key and the COSE_KDF_Context it came from. */
    readonly kek?: string;
    readonly kdfContext?: string;
  };
}

/** The index file (testdata/suit-vectors/index.json). */
export interface SuitVectorIndex {
  readonly sources: Readonly<Record<SuitVectorSource, { readonly document: string }>>;
  readonly keys: Readonly<Record<string, SuitVectorKey>>;
  readonly envelopes: readonly SuitEnvelopeVector[];
  readonly encryptedPayloads: readonly SuitEncryptedPayloadVector[];
}

// The same depth below the package from src/suit/ and dist/suit/.
const dir = new URL('../../testdata/suit-vectors/', import.meta.url);
const index = JSON.parse(readFileSync(new URL('index.json', dir), 'utf8')) as SuitVectorIndex;

function keyEntry(name: string): SuitVectorKey {
  const entry = index.keys[name];
  if (!entry) throw new BugError(`the SUIT vector index has no key named ${name}`);
  return entry;
}

/** The SUIT vectors folder, its index, and readers for its files and keys. */
export const suitVectors = {
  dir,
  index,
  /** The bytes of a file in the folder (a path relative to it, e.g. `keys/…pem`). */
  read(file: string): Uint8Array {
    return new Uint8Array(readFileSync(new URL(file, dir)));
  },
  /** The decoded COSE_Key of a key in the index. */
  coseKey(name: string): CoseKey {
    return decodeCoseKey(Buffer.from(keyEntry(name).coseKey, 'hex'));
  },
  /**
   * The key as a verifier or a device holds it: a public key from its PEM file when it has one,
   * otherwise imported from its COSE_Key (a secret, or a P-256 private key).
   */
  key(name: string): KeyObject {
    const entry = keyEntry(name);
    if (entry.pem) return createPublicKey(readFileSync(new URL(entry.pem, dir)));
    return coseKeyToKeyObject(suitVectors.coseKey(name));
  },
  /** The key with its kid, as decryptPayload takes it. */
  recipientKey(name: string): { key: KeyObject; kid?: string } {
    const { kid } = keyEntry(name);
    return kid ? { key: suitVectors.key(name), kid } : { key: suitVectors.key(name) };
  },
} as const;
