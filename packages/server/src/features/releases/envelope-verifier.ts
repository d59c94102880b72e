import type { ComponentExpectation } from './match-payloads.js';

/** A trusted public key of a device class, as the platform's `trustedKeysForClass` returns it. */
export interface TrustedKeyInput {
  readonly kid: string;
  readonly publicKeyPem: string;
}

/** What the server keeps from a verified envelope. */
export interface VerifiedEnvelope {
  readonly sequenceNumber: number;
  /** SHA-256 hex of the bstr-wrapped manifest. */
  readonly manifestDigest: string;
  /** Kids (hex) whose signatures verified. */
  readonly signerKids: readonly string[];
  /** Vendor-id and class-id from the manifest as UUID text, when it states them. */
  readonly vendorId: string | null;
  readonly classId: string | null;
  readonly components: readonly ComponentExpectation[];
  /** SUIT text fields (model name, version, description …), flattened to strings. */
  readonly text: Readonly<Record<string, string>> | null;
  /** A human version from the manifest text, when present. */
  readonly version: string | null;
}

/**
 * Verifies a signed SUIT envelope against trusted keys: signature + manifest digest, default-deny.
 * Throws `ServerError` with a `RELEASE_*` code on any failure. The implementation over
 * `@updraft/core` is {@link coreEnvelopeVerifier}; tests may pass their own.
 */
export type EnvelopeVerifier = (
  envelope: Uint8Array,
  keys: readonly TrustedKeyInput[],
) => Promise<VerifiedEnvelope>;
