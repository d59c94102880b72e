import { createHash, type Hash, timingSafeEqual } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { bstrHeader } from '../cbor/cbor-encode.js';
import { hashNameOf } from '../cose/cose-algorithms.js';
import { CoreError } from '../errors.js';
import type { SuitDigest } from './suit-model.js';

function hashFor(algorithm: number): Hash {
  const name = hashNameOf(algorithm);
  if (!name) {
    throw new CoreError('MANIFEST_UNSUPPORTED', `unsupported: digest algorithm ${algorithm}`, {
      details: { reason: 'digest algorithm', algorithm },
    });
  }
  return createHash(name);
}

/** SUIT_Digest of `bytes` with a COSE hash algorithm (-16 SHA-256 by default). */
export function computeDigest(bytes: Uint8Array, algorithm = -16): SuitDigest {
  return { algorithm, bytes: new Uint8Array(hashFor(algorithm).update(bytes).digest()) };
}

/**
 * SUIT_Digest of the *bstr-wrapped* `bytes` (CBOR byte-string head + content): what the
 * authentication wrapper and the severable-member digests cover.
 */
export function computeBstrWrappedDigest(bytes: Uint8Array, algorithm = -16): SuitDigest {
  const h = hashFor(algorithm);
  h.update(bstrHeader(bytes.length));
  h.update(bytes);
  return { algorithm, bytes: new Uint8Array(h.digest()) };
}

/** Constant-time equality of two digests (algorithm and bytes). */
export function digestEquals(a: SuitDigest, b: SuitDigest): boolean {
  return (
    a.algorithm === b.algorithm &&
    a.bytes.length === b.bytes.length &&
    timingSafeEqual(a.bytes, b.bytes)
  );
}

/** A streaming check of a payload against its expected digest and size. */
export interface DigestVerifier {
  update(chunk: Uint8Array): void;
  /** Bytes seen so far. */
  readonly bytesSeen: number;
  /** Throws MANIFEST_DIGEST_MISMATCH unless the bytes seen have the expected size and digest. */
  verify(): void;
}

/**
 * Streaming digest check for a payload from an install plan: feed chunks, then call `verify()`.
 * Exceeding the expected size fails at once (no need to read a huge wrong payload to the end).
 *
 * @example
 * const v = createDigestVerifier(step.digest, step.size);
 * for await (const chunk of download) v.update(chunk);
 * v.verify();
 */
export function createDigestVerifier(expected: SuitDigest, expectedSize?: number): DigestVerifier {
  const hash = hashFor(expected.algorithm);
  let seen = 0;
  const mismatch = (reason: string) =>
    new CoreError('MANIFEST_DIGEST_MISMATCH', `payload does not match the manifest: ${reason}`, {
      details: { reason, bytesSeen: seen, ...(expectedSize !== undefined ? { expectedSize } : {}) },
    });
  return {
    get bytesSeen() {
      return seen;
    },
    update(chunk) {
      seen += chunk.length;
      if (expectedSize !== undefined && seen > expectedSize)
        throw mismatch('payload longer than image-size');
      hash.update(chunk);
    },
    verify() {
      if (expectedSize !== undefined && seen !== expectedSize)
        throw mismatch(`size ${seen} is not image-size ${expectedSize}`);
      const actual = new Uint8Array(hash.digest());
      if (!digestEquals({ algorithm: expected.algorithm, bytes: actual }, expected))
        throw mismatch('digest differs');
    },
  };
}

/**
 * A pass-through Transform that checks the stream against a digest and size; it errors with
 * MANIFEST_DIGEST_MISMATCH at the end (or as soon as the size is exceeded).
 */
export function createDigestCheckStream(expected: SuitDigest, expectedSize?: number): Transform {
  const verifier = createDigestVerifier(expected, expectedSize);
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        verifier.update(chunk);
        cb(null, chunk);
      } catch (error) {
        cb(error as Error);
      }
    },
    flush(cb) {
      try {
        verifier.verify();
        cb();
      } catch (error) {
        cb(error as Error);
      }
    },
  });
}
