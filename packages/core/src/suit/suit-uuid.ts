import { createHash } from 'node:crypto';
import { CoreError } from '../errors.js';

/** RFC 9562 name-space ID for domain names (6ba7b810-9dad-11d1-80b4-00c04fd430c8). */
export const UUID_NAMESPACE_DNS = parseUuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8');

/** Parses a UUID in its text form (with or without dashes) to its 16 bytes. */
export function parseUuid(text: string): Uint8Array {
  const hex = text.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) {
    throw new CoreError('MANIFEST_MALFORMED', `not a UUID: ${JSON.stringify(text.slice(0, 64))}`, {
      details: { reason: 'not a UUID' },
    });
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** The 8-4-4-4-12 text form of 16 UUID bytes. */
export function formatUuid(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** RFC 9562 UUID version 5 (SHA-1, name-based) of `name` in `namespace`. */
export function uuidV5(namespace: Uint8Array, name: string | Uint8Array): Uint8Array {
  const bytes = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
  const hash = createHash('sha1').update(namespace).update(bytes).digest();
  const out = new Uint8Array(hash.subarray(0, 16));
  out[6] = (out[6]! & 0x0f) | 0x50;
  out[8] = (out[8]! & 0x3f) | 0x80;
  return out;
}

/**
 * SUIT vendor-id: UUIDv5 of the vendor's domain name in the DNS name space
 * (draft-ietf-suit-manifest §8.4.8.1; `vendorIdFromDomain('arm.com')` is fa6b4a53-d5ad-5fdf-…).
 */
export function vendorIdFromDomain(domain: string): Uint8Array {
  return uuidV5(UUID_NAMESPACE_DNS, domain);
}

/**
 * SUIT class-id: UUIDv5 of a model/class name in the vendor-id's name space
 * (draft-ietf-suit-manifest §8.4.8.2).
 */
export function classIdFromName(vendorId: Uint8Array, className: string): Uint8Array {
  return uuidV5(vendorId, className);
}

/** Accepts 16 bytes or a UUID string; returns the 16 bytes. */
export function uuidBytes(value: Uint8Array | string): Uint8Array {
  if (typeof value === 'string') return parseUuid(value);
  if (value.length !== 16) {
    throw new CoreError('MANIFEST_MALFORMED', 'a UUID has 16 bytes', {
      details: { reason: 'UUID length' },
    });
  }
  return value;
}
