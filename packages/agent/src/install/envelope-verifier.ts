import type { InstalledComponent } from '../ports/transport.js';

/**
 * Verifies a SUIT envelope for this device and returns what to install: signature with the
 * device's trusted keys, vendor/class ids, sequence numbers against `installed`, and the plan.
 * Rejects with core's `CoreError` (its code goes verbatim into the `rejected` report).
 * The default implementation wraps `@updraft/core`'s `processEnvelope`; tests may pass a fake to
 * exercise the state machine above it.
 */
export type EnvelopeVerifier = (
  envelope: Uint8Array,
  installed: readonly InstalledComponent[],
) => Promise<VerifiedUpdate>;

/** The verified content of an envelope, as the agent needs it. */
export interface VerifiedUpdate {
  readonly sequenceNumber: number;
  /** All components install together or none does (the manifest's choice). */
  readonly allOrNothing: boolean;
  readonly components: readonly VerifiedComponent[];
}

/** One component to install, from the signed manifest. */
export interface VerifiedComponent {
  /** SUIT component id (lowercase hex of its CBOR encoding). */
  readonly id: string;
  /** Size of the image as installed (plaintext). */
  readonly size: number;
  /** SHA-256 hex of the installed image. */
  readonly digest: string;
  /** Bytes to download (the ciphertext size when encrypted, else `size`). */
  readonly payloadSize: number;
  /** SHA-256 hex of the bytes to download when the manifest states it (encrypted payloads). */
  readonly payloadDigest: string | null;
  /** Core's encryption info for the decryptor; null when the payload is in clear. */
  readonly encryption: Uint8Array | null;
}

/**
 * Streaming payload decryption with the device's key (core's SUIT firmware-encryption).
 * `final()` throws the core error when authentication fails (AES-GCM) or the key is wrong.
 */
export interface Decryptor {
  /** Throws core's error at once when the device's key cannot unwrap the content key. */
  open(encryption: Uint8Array): PayloadDecipher;
}

/** One running decryption; output may lag input, `final()` returns the rest. */
export interface PayloadDecipher {
  update(ciphertext: Uint8Array): Promise<Uint8Array>;
  final(): Promise<Uint8Array>;
}
