import { describe, expect, it } from 'vitest';
import { payloadFileName } from './payload-file-name';

/** The release API's pattern for a payload's file name (release.routes.ts). */
const ACCEPTED = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

describe('payloadFileName', () => {
  it('keeps a name the service accepts as it is', () => {
    expect(payloadFileName('thermo-2.0.swu')).toBe('thermo-2.0.swu');
    expect(payloadFileName('C:\\build\\rootfs.mender')).toBe('rootfs.mender');
  });

  it('replaces what the service refuses, the same way as the CLI', () => {
    expect(payloadFileName('fw image (1).bin')).toBe('fw_image__1_.bin');
    expect(payloadFileName('prüfung.bin')).toBe('pr_fung.bin');
    expect(payloadFileName('.hidden')).toBe('hidden');
    expect(payloadFileName('-rf.bin')).toBe('rf.bin');
    expect(payloadFileName('...')).toBe('payload.bin');
    expect(payloadFileName('')).toBe('payload.bin');
    expect(payloadFileName(`${'a'.repeat(200)}.bin`)).toHaveLength(128);
  });

  it('always answers a name matching the API pattern', () => {
    for (const name of ['a b', '.', '--x', '日本.bin', `${'é'.repeat(300)}`, 'ok_1.2-3']) {
      expect(payloadFileName(name)).toMatch(ACCEPTED);
    }
  });
});
