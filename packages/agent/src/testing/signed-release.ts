// Real SUIT envelopes for the agent's tests: built with core's builder, signed with core's COSE
// signer and checked by the production verifier (coreVerifier), so every refusal code a test sees
// comes from core, never from a test double.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  CborTag,
  classIdFromName,
  createEnvelope,
  createKeySigner,
  decodeCbor,
  signEnvelope,
  vendorIdFromDomain,
} from '@updraft/core';
import { coreVerifier } from '../install/core-verifier.js';
import type { EnvelopeVerifier } from '../install/envelope-verifier.js';

/** The test device's vendor and class ids (UUID bytes, as the SUIT processor checks them). */
export const VENDOR = vendorIdFromDomain('acme.example');
export const CLASS = classIdFromName(VENDOR, 'sensor-v2');

/** The firmware signing key the test device trusts. */
export const RELEASE_KEY = generateKeyPairSync('ed25519');

/** What a test envelope says. */
export interface TestManifest {
  readonly sequenceNumber: number;
  readonly components: readonly {
    /** SUIT component id hex (CBOR of the id array), e.g. "814100" for [h'00']. */
    readonly id: string;
    readonly image: Uint8Array;
    /** SUIT_Encryption_Info when the payload is encrypted (from core's encryptPayload). */
    readonly encryptionInfo?: Uint8Array;
  }[];
  readonly vendorId?: Uint8Array;
  readonly classId?: Uint8Array;
  /** Signing key (default: the trusted {@link RELEASE_KEY}). */
  readonly key?: KeyObject;
}

/** Builds and signs a SUIT envelope for `manifest`. */
export async function signedEnvelope(manifest: TestManifest): Promise<Uint8Array> {
  const unsigned = createEnvelope({
    vendorId: manifest.vendorId ?? VENDOR,
    classId: manifest.classId ?? CLASS,
    sequenceNumber: manifest.sequenceNumber,
    components: manifest.components.map((c) => ({
      id: c.id,
      digest: new Uint8Array(createHash('sha256').update(c.image).digest()),
      size: c.image.length,
      uri: `https://cdn.example/${c.id}.bin`,
      ...(c.encryptionInfo ? { encryptionInfo: c.encryptionInfo } : {}),
    })),
  });
  return signEnvelope(unsigned, createKeySigner(manifest.key ?? RELEASE_KEY.privateKey));
}

/** The production verifier, trusting `keys` (default: the release key) for VENDOR/CLASS. */
export function testVerifier(
  keys: readonly KeyObject[] = [RELEASE_KEY.publicKey],
): EnvelopeVerifier {
  return coreVerifier({
    trust: { keys: keys.map((key) => ({ key })) },
    vendorId: VENDOR,
    classId: CLASS,
  });
}

/**
 * A copy of `envelope` with one bit of its COSE signature flipped (the manifest and its digest
 * untouched): only the signature check can catch it.
 */
export function withBadSignature(envelope: Uint8Array): Uint8Array {
  const decoded = decodeCbor(envelope);
  const map = decoded instanceof CborTag ? decoded.value : null;
  const wrapper = map !== null && typeof map === 'object' && 'get' in map ? map.get(2) : undefined;
  if (!(wrapper instanceof Uint8Array)) throw new Error('not a SUIT envelope');
  const at = Buffer.from(envelope).indexOf(Buffer.from(wrapper));
  // The authentication wrapper ends with the COSE_Sign1 signature (64 bytes for Ed25519).
  const out = envelope.slice();
  out[at + wrapper.length - 10]! ^= 0x01;
  return out;
}
