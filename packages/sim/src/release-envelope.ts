import { createHash } from 'node:crypto';
import { coreVerifier, type EnvelopeVerifier } from '@updraft/agent';
import { createEnvelope, createKeySigner, signEnvelope } from '@updraft/core';
import type { ImageSigningKey, TrustedImageKey } from './image-format.js';

/**
 * SUIT component id of a device's main image `[h'00']` (lowercase hex of its CBOR), the name core
 * and the agent give it. Simulated devices pass it to the agent explicitly.
 */
export const MAIN_COMPONENT = '814100';

/** SUIT vendor-id of simulated devices when nothing else is said (UUID text). */
export const SIM_VENDOR_ID = '4f1d7a0e-5c2b-4d89-9a3e-7b6c1f0e2d51';
/** SUIT class-id of simulated devices when nothing else is said (UUID text). */
export const SIM_CLASS_ID = '9c3e8b27-1a4f-4e6d-b05c-2d7f9e1a6c38';

/** What a simulated release offers. */
export interface SimRelease {
  /** 16 bytes or UUID text (default {@link SIM_VENDOR_ID}). */
  readonly vendorId?: Uint8Array | string;
  /** 16 bytes or UUID text (default {@link SIM_CLASS_ID}). */
  readonly classId?: Uint8Array | string;
  readonly sequenceNumber: number;
  readonly components: readonly { readonly id: string; readonly image: Uint8Array }[];
}

/**
 * A real SUIT envelope for a simulated release, built and signed by `@updraft/core` exactly as
 * `updraft manifest create` / `manifest sign` make them (COSE_Sign1 with the image key, kid =
 * core's `keyId`); the payloads are fetched from the action, matched by their SHA-256.
 *
 * @example
 * const envelope = await buildReleaseEnvelope({ sequenceNumber: 2, components: [{ id: MAIN_COMPONENT, image }] }, key);
 */
export async function buildReleaseEnvelope(
  release: SimRelease,
  key: ImageSigningKey,
): Promise<Uint8Array> {
  const unsigned = createEnvelope({
    vendorId: release.vendorId ?? SIM_VENDOR_ID,
    classId: release.classId ?? SIM_CLASS_ID,
    sequenceNumber: release.sequenceNumber,
    components: release.components.map((c) => ({
      id: c.id,
      digest: new Uint8Array(createHash('sha256').update(c.image).digest()),
      size: c.image.length,
      uri: `https://sim.invalid/${c.id}`,
    })),
  });
  return signEnvelope(unsigned, createKeySigner(key.privateKey, { kid: key.kid }));
}

/**
 * The agent's production verifier (`coreVerifier`: core's SUIT processor) for a simulated
 * device: envelopes must be signed by one of `trustedKeys` and name this vendor and class.
 */
export function releaseVerifier(device: {
  readonly vendorId?: Uint8Array | string;
  readonly classId?: Uint8Array | string;
  readonly trustedKeys: readonly TrustedImageKey[];
}): EnvelopeVerifier {
  return coreVerifier({
    trust: { keys: device.trustedKeys.map((k) => ({ key: k.publicKey })) },
    vendorId: device.vendorId ?? SIM_VENDOR_ID,
    classId: device.classId ?? SIM_CLASS_ID,
  });
}
