import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.js';
import {
  classIdFromName,
  formatUuid,
  parseUuid,
  UUID_NAMESPACE_DNS,
  uuidBytes,
  uuidV5,
  vendorIdFromDomain,
} from './suit-uuid.js';

describe('SUIT UUIDs', () => {
  it('derives the vendor-id of the SUIT examples from the domain (UUIDv5, DNS name space)', () => {
    expect(formatUuid(vendorIdFromDomain('arm.com'))).toBe('fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe');
  });

  it('matches the RFC 9562 UUIDv5 example', () => {
    expect(formatUuid(uuidV5(UUID_NAMESPACE_DNS, 'www.example.com'))).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('derives class-ids in the vendor-id name space (version 5, RFC variant)', () => {
    const vendor = vendorIdFromDomain('example.com');
    const a = classIdFromName(vendor, 'sensor-x');
    expect(a).toHaveLength(16);
    expect(a[6]! >> 4).toBe(5);
    expect(a[8]! >> 6).toBe(2);
    expect(classIdFromName(vendor, 'sensor-x')).toEqual(a);
    expect(classIdFromName(vendor, 'sensor-y')).not.toEqual(a);
    expect(classIdFromName(vendorIdFromDomain('example.org'), 'sensor-x')).not.toEqual(a);
  });

  it('parses and formats UUID text, and rejects what is not one', () => {
    const text = 'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe';
    expect(formatUuid(parseUuid(text))).toBe(text);
    expect(formatUuid(parseUuid(text.replace(/-/g, '').toUpperCase()))).toBe(text);
    expect(uuidBytes(parseUuid(text))).toEqual(parseUuid(text));
    for (const bad of ['', 'fa6b4a53', `${text}00`, 'zz6b4a53-d5ad-5fdf-be9d-e663e4d41ffe']) {
      expect(() => parseUuid(bad)).toThrow(CoreError);
    }
    expect(() => uuidBytes(new Uint8Array(15))).toThrow(CoreError);
  });
});
