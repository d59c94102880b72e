import { ServerError } from '../../errors.js';
import type { PayloadDigests } from '../uploads/payload-digests.js';

/** What release verification needs to know of one manifest component. */
export interface ComponentExpectation {
  /** SUIT component identifier, lowercase hex of its CBOR encoding. */
  readonly id: string;
  /** SHA-256 of the image, lowercase hex, when the manifest states one. */
  readonly imageDigest: string | null;
  readonly imageSize: number | null;
  /** Encrypted payloads travel as ciphertext, whose digest the manifest does not state. */
  readonly encrypted: boolean;
  /** The payload is inside the envelope; no separate artifact is expected. */
  readonly integrated: boolean;
}

/** One uploaded payload, optionally naming its component. */
export interface UploadedPayload extends PayloadDigests {
  readonly componentId?: string | undefined;
}

/** A payload matched to the component it delivers. */
export interface MatchedPayload extends UploadedPayload {
  readonly componentId: string;
}

/**
 * Pairs every uploaded payload with exactly one manifest component, checking digest and size
 * against the manifest (default-deny: every payload must match and every component that needs
 * an artifact must get one). For an encrypted component only the size bound and the pairing can
 * be checked here; the device checks the plaintext digest after decrypting.
 */
export function matchPayloads(
  components: readonly ComponentExpectation[],
  payloads: readonly UploadedPayload[],
): MatchedPayload[] {
  const needing = components.filter((c) => !c.integrated);
  const taken = new Set<string>();
  const matched: MatchedPayload[] = [];
  for (const [index, p] of payloads.entries()) {
    const candidates =
      p.componentId !== undefined
        ? needing.filter((c) => c.id === p.componentId)
        : needing.filter((c) => !c.encrypted && c.imageDigest === p.sha256);
    const component = candidates.find((c) => !taken.has(c.id));
    if (component === undefined) {
      throw new ServerError(
        'RELEASE_PAYLOAD_MISMATCH',
        p.componentId !== undefined
          ? `payload ${index} names component ${p.componentId}, which the manifest does not list (or lists once)`
          : `payload ${index} (sha256 ${p.sha256}) matches no component digest in the manifest`,
        { details: { payload: index, sha256: p.sha256 } },
      );
    }
    if (!component.encrypted) {
      if (component.imageDigest !== null && component.imageDigest !== p.sha256) {
        throw new ServerError(
          'RELEASE_PAYLOAD_MISMATCH',
          `payload ${index} digest differs from the manifest`,
          {
            details: { payload: index, expected: component.imageDigest, actual: p.sha256 },
          },
        );
      }
      if (component.imageSize !== null && component.imageSize !== p.size) {
        throw new ServerError(
          'RELEASE_PAYLOAD_MISMATCH',
          `payload ${index} size differs from the manifest`,
          {
            details: { payload: index, expected: component.imageSize, actual: p.size },
          },
        );
      }
    }
    taken.add(component.id);
    matched.push({ ...p, componentId: component.id });
  }
  const missing = needing.filter((c) => !taken.has(c.id));
  if (missing.length > 0) {
    throw new ServerError(
      'RELEASE_PAYLOAD_MISSING',
      `no payload for component(s) ${missing.map((c) => c.id).join(', ')}`,
      {
        details: { components: missing.map((c) => c.id) },
      },
    );
  }
  return matched;
}
