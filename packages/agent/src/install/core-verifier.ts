import {
  CoreError,
  ciphertextLength,
  createTrustStore,
  decodeEncryptionInfo,
  processEnvelope,
  type TrustInput,
  type TrustStore,
} from '@updraft/core';
import type { EnvelopeVerifier, VerifiedComponent } from './envelope-verifier.js';

/** The device facts the SUIT processor checks an envelope against. */
export interface CoreVerifierOptions {
  /** Keys (and policy) that may sign this device's firmware. */
  readonly trust: TrustInput | TrustStore;
  /** 16 bytes or UUID text. */
  readonly vendorId: Uint8Array | string;
  readonly classId: Uint8Array | string;
}

const SHA256 = -16;

/**
 * The production {@link EnvelopeVerifier}: core's SUIT processor (signatures with the trusted keys,
 * vendor/class accident protection, anti-rollback per component against the installed sequence
 * numbers), narrowed to what this agent installs: fetched payloads with a SHA-256 image digest and
 * a size. Anything else is refused with `MANIFEST_UNSUPPORTED`, never ignored.
 */
export function coreVerifier(options: CoreVerifierOptions): EnvelopeVerifier {
  const trust = createTrustStore(options.trust);
  return async (envelope, installed) => {
    const plan = processEnvelope(envelope, {
      trust,
      device: {
        vendorId: options.vendorId,
        classId: options.classId,
        components: installed.map((c) => ({ id: c.id, sequenceNumber: c.sequenceNumber })),
      },
    });
    const components = plan.components.map((c): VerifiedComponent => {
      if (c.action !== 'fetch' || c.integrated) {
        throw new CoreError('MANIFEST_UNSUPPORTED', 'the agent installs fetched payloads only', {
          details: { component: c.idHex, action: c.action },
        });
      }
      if (c.digest.algorithm !== SHA256 || c.size === undefined) {
        throw new CoreError(
          'MANIFEST_UNSUPPORTED',
          'a component needs a SHA-256 digest and a size',
          {
            details: { component: c.idHex },
          },
        );
      }
      const encryption = c.encryptionInfo ?? null;
      const payloadSize =
        encryption === null
          ? c.size
          : ciphertextLength(decodeEncryptionInfo(encryption).contentAlg, c.size);
      return {
        id: c.idHex,
        size: c.size,
        digest: Buffer.from(c.digest.bytes).toString('hex'),
        payloadSize,
        payloadDigest: null,
        encryption,
      };
    });
    // A SUIT manifest is one update: its components install together or not at all.
    return { sequenceNumber: plan.sequenceNumber, allOrNothing: true, components };
  };
}
