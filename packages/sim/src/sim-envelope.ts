import { createHash, sign, verify } from 'node:crypto';
import type { EnvelopeVerifier, InstalledComponent, VerifiedUpdate } from '@updraft/agent';
import { CoreError } from '@updraft/core';
import type { ImageSigningKey, TrustedImageKey } from './image-format.js';

/**
 * SUIT component id of a device's main image `[h'00']` (lowercase hex of its CBOR), the name core
 * and the agent give it. Simulated devices pass it to the agent explicitly.
 */
export const MAIN_COMPONENT = '814100';

/** Upper bound of a simulator envelope. */
export const SIM_ENVELOPE_MAX_BYTES = 64 * 1024;
const FORMAT = 'updraft-sim-envelope/1';

/** What a simulator envelope states. */
export interface SimManifest {
  readonly vendor: string;
  readonly class: string;
  readonly sequenceNumber: number;
  readonly components: readonly { readonly id: string; readonly image: Uint8Array }[];
}

/**
 * A small signed manifest (JSON body + Ed25519/ES256 signature) for simulated devices in tests
 * and sweeps, where the subject is power safety rather than SUIT parsing. Devices that talk to a
 * real service use core's SUIT envelopes instead: the device takes any `EnvelopeVerifier`.
 */
export function buildSimEnvelope(manifest: SimManifest, key: ImageSigningKey): Uint8Array {
  const body = JSON.stringify({
    format: FORMAT,
    vendor: manifest.vendor,
    class: manifest.class,
    sequenceNumber: manifest.sequenceNumber,
    components: manifest.components.map((c) => ({
      id: c.id,
      size: c.image.length,
      digest: createHash('sha256').update(c.image).digest('hex'),
    })),
  });
  const isEd = key.privateKey.asymmetricKeyType === 'ed25519';
  const signature = sign(isEd ? null : 'sha256', Buffer.from(body), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return new TextEncoder().encode(
    JSON.stringify({
      body,
      kid: Buffer.from(key.kid).toString('hex'),
      signature: signature.toString('base64'),
    }),
  );
}

/** Verifies {@link buildSimEnvelope} output with core's error codes (default-deny). */
export function simEnvelopeVerifier(device: {
  vendor: string;
  class: string;
  trustedKeys: readonly TrustedImageKey[];
  mainComponent?: string;
}): EnvelopeVerifier {
  const main = device.mainComponent ?? MAIN_COMPONENT;
  return async (envelope: Uint8Array, installed: readonly InstalledComponent[]) => {
    if (envelope.length > SIM_ENVELOPE_MAX_BYTES) {
      throw new CoreError('MANIFEST_MALFORMED', 'envelope too large');
    }
    let outer: { body?: unknown; kid?: unknown; signature?: unknown };
    try {
      outer = JSON.parse(Buffer.from(envelope).toString('utf8'));
    } catch (cause) {
      throw new CoreError('MANIFEST_MALFORMED', 'envelope is not JSON', { cause });
    }
    if (
      typeof outer.body !== 'string' ||
      typeof outer.kid !== 'string' ||
      typeof outer.signature !== 'string'
    ) {
      throw new CoreError('MANIFEST_MALFORMED', 'envelope lacks body, kid or signature');
    }
    const key = device.trustedKeys.find((k) => Buffer.from(k.kid).toString('hex') === outer.kid);
    if (!key) throw new CoreError('MANIFEST_UNTRUSTED_KEY', 'no trusted key with this kid');
    let ok = false;
    try {
      const isEd = key.publicKey.asymmetricKeyType === 'ed25519';
      ok = verify(
        isEd ? null : 'sha256',
        Buffer.from(outer.body),
        { key: key.publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(outer.signature, 'base64'),
      );
    } catch {
      ok = false;
    }
    if (!ok)
      throw new CoreError('MANIFEST_SIGNATURE_INVALID', 'envelope signature does not verify');
    const body = parseBody(outer.body);
    if (body.vendor !== device.vendor) throw new CoreError('MANIFEST_VENDOR_MISMATCH', 'vendor');
    if (body.class !== device.class) throw new CoreError('MANIFEST_CLASS_MISMATCH', 'class');
    const current = installed.find((c) => c.id === main)?.sequenceNumber ?? 0;
    if (body.sequenceNumber <= current) {
      throw new CoreError(
        'MANIFEST_ROLLBACK',
        `sequence number ${body.sequenceNumber} <= ${current}`,
      );
    }
    const update: VerifiedUpdate = {
      sequenceNumber: body.sequenceNumber,
      allOrNothing: true,
      components: body.components.map((c) => ({
        id: c.id,
        size: c.size,
        digest: c.digest,
        payloadSize: c.size,
        payloadDigest: null,
        encryption: null,
      })),
    };
    return update;
  };
}

interface Body {
  vendor: string;
  class: string;
  sequenceNumber: number;
  components: { id: string; size: number; digest: string }[];
}

function parseBody(text: string): Body {
  let b: Partial<Body> & { format?: unknown };
  try {
    b = JSON.parse(text);
  } catch (cause) {
    throw new CoreError('MANIFEST_MALFORMED', 'manifest is not JSON', { cause });
  }
  const componentsOk =
    Array.isArray(b.components) &&
    b.components.length > 0 &&
    b.components.length <= 8 &&
    b.components.every(
      (c) =>
        typeof c?.id === 'string' &&
        /^[0-9a-f]{2,64}$/.test(c.id) &&
        Number.isSafeInteger(c.size) &&
        c.size > 0 &&
        typeof c.digest === 'string' &&
        /^[0-9a-f]{64}$/.test(c.digest),
    );
  if (
    b.format !== FORMAT ||
    typeof b.vendor !== 'string' ||
    typeof b.class !== 'string' ||
    !Number.isSafeInteger(b.sequenceNumber) ||
    !componentsOk
  ) {
    throw new CoreError('MANIFEST_MALFORMED', 'manifest fields missing or out of range');
  }
  return b as Body;
}
