import { describe, expect, it } from 'vitest';
import { payloadFileName } from './release-upload.js';

describe('payloadFileName', () => {
  it('keeps the last path segment, which the hawkBit and Mender APIs offer the file by', () => {
    expect(payloadFileName('/build/out/thermo-2.0.swu')).toBe('thermo-2.0.swu');
    expect(payloadFileName('C:\\build\\rootfs.mender')).toBe('rootfs.mender');
  });

  it('replaces characters the service refuses and never answers a hidden or empty name', () => {
    expect(payloadFileName('out/fw image (1).bin')).toBe('fw_image__1_.bin');
    expect(payloadFileName('out/.hidden')).toBe('hidden');
    expect(payloadFileName('out/')).toBe('payload.bin');
    expect(payloadFileName(`${'a'.repeat(200)}.bin`)).toHaveLength(128);
  });
});
