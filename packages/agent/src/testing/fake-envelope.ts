// A stand-in for SUIT envelopes in unit tests of the state machine: a JSON manifest with an HMAC
// "signature". The verifier enforces the same rules and codes as core's processor (signature,
// trusted key, vendor/class, rollback), so the machine above it is exercised honestly; the
// attack tests against real SUIT envelopes use @updraft/core.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { CoreError } from '@updraft/core';
import type { EnvelopeVerifier, VerifiedUpdate } from '../install/envelope-verifier.js';

/** What a fake envelope says. */
export interface FakeManifest {
  readonly vendor: string;
  readonly class: string;
  readonly sequenceNumber: number;
  readonly allOrNothing?: boolean;
  readonly components: readonly {
    id: string;
    image: Uint8Array;
    /** SUIT_Encryption_Info and ciphertext size when the payload is encrypted. */
    encryption?: { info: Uint8Array; payloadSize: number };
  }[];
}

/** Signs a fake envelope with `key` (named `kid`). */
export function fakeEnvelope(manifest: FakeManifest, kid = 'k1', key = 'secret'): Uint8Array {
  const body = JSON.stringify({
    vendor: manifest.vendor,
    class: manifest.class,
    sequenceNumber: manifest.sequenceNumber,
    allOrNothing: manifest.allOrNothing ?? true,
    components: manifest.components.map((c) => ({
      id: c.id,
      size: c.image.length,
      digest: createHash('sha256').update(c.image).digest('hex'),
      encryption: c.encryption ? Buffer.from(c.encryption.info).toString('base64') : null,
      payloadSize: c.encryption?.payloadSize ?? c.image.length,
    })),
  });
  const mac = createHmac('sha256', key).update(body).digest('hex');
  return new Uint8Array(Buffer.from(JSON.stringify({ kid, mac, body })));
}

/** The matching verifier, trusting `keys` (kid → secret) for one vendor/class. */
export function fakeVerifier(
  device: { vendor: string; class: string },
  keys: Record<string, string> = { k1: 'secret' },
): EnvelopeVerifier {
  return async (envelope, installed) => {
    let outer: { kid: string; mac: string; body: string };
    try {
      outer = JSON.parse(Buffer.from(envelope).toString());
    } catch (cause) {
      throw new CoreError('MANIFEST_MALFORMED', 'not a fake envelope', { cause });
    }
    const key = keys[outer.kid];
    if (key === undefined) throw new CoreError('MANIFEST_UNTRUSTED_KEY', 'unknown kid');
    const mac = createHmac('sha256', key).update(outer.body).digest();
    const given = Buffer.from(String(outer.mac), 'hex');
    if (given.length !== mac.length || !timingSafeEqual(given, mac)) {
      throw new CoreError('MANIFEST_SIGNATURE_INVALID', 'bad mac');
    }
    const m = JSON.parse(outer.body);
    if (m.vendor !== device.vendor) throw new CoreError('MANIFEST_VENDOR_MISMATCH', 'vendor');
    if (m.class !== device.class) throw new CoreError('MANIFEST_CLASS_MISMATCH', 'class');
    for (const c of m.components) {
      const now = installed.find((i) => i.id === c.id);
      if (now && m.sequenceNumber <= now.sequenceNumber) {
        throw new CoreError('MANIFEST_ROLLBACK', 'not newer');
      }
    }
    const update: VerifiedUpdate = {
      sequenceNumber: m.sequenceNumber,
      allOrNothing: m.allOrNothing,
      components: m.components.map(
        (c: {
          id: string;
          size: number;
          digest: string;
          payloadSize: number;
          encryption: string | null;
        }) => ({
          id: c.id,
          size: c.size,
          digest: c.digest,
          payloadSize: c.payloadSize,
          payloadDigest: null,
          encryption:
            c.encryption === null ? null : new Uint8Array(Buffer.from(c.encryption, 'base64')),
        }),
      ),
    };
    return update;
  };
}
