import { describe, expect, it } from 'vitest';
import {
  type ComponentExpectation,
  matchPayloads,
  type UploadedPayload,
} from './match-payloads.js';

const a = 'aa'.repeat(32);
const b = 'bb'.repeat(32);
const comp = (
  id: string,
  imageDigest: string | null,
  imageSize: number | null,
  extra: Partial<ComponentExpectation> = {},
): ComponentExpectation => ({
  id,
  imageDigest,
  imageSize,
  encrypted: false,
  integrated: false,
  ...extra,
});
const payload = (sha256: string, size: number, componentId?: string): UploadedPayload => ({
  sha256,
  size,
  sha1: '',
  md5: '',
  componentId,
});

describe('matchPayloads', () => {
  it('pairs payloads with components by digest', () => {
    const m = matchPayloads(
      [comp('00', a, 10), comp('01', b, 20)],
      [payload(b, 20), payload(a, 10)],
    );
    expect(m.map((p) => p.componentId)).toEqual(['01', '00']);
  });

  it('refuses a payload whose digest is not in the manifest', () => {
    expect(() => matchPayloads([comp('00', a, 10)], [payload(b, 10)])).toThrow(
      expect.objectContaining({ code: 'RELEASE_PAYLOAD_MISMATCH' }),
    );
  });

  it('refuses a payload named for a component whose digest differs', () => {
    expect(() => matchPayloads([comp('00', a, 10)], [payload(b, 10, '00')])).toThrow(
      expect.objectContaining({ code: 'RELEASE_PAYLOAD_MISMATCH' }),
    );
  });

  it('refuses a payload of the wrong size', () => {
    expect(() => matchPayloads([comp('00', a, 10)], [payload(a, 11)])).toThrow(
      expect.objectContaining({ code: 'RELEASE_PAYLOAD_MISMATCH' }),
    );
  });

  it('refuses a missing payload and a duplicated one', () => {
    expect(() => matchPayloads([comp('00', a, 10), comp('01', b, 20)], [payload(a, 10)])).toThrow(
      expect.objectContaining({ code: 'RELEASE_PAYLOAD_MISSING' }),
    );
    expect(() => matchPayloads([comp('00', a, 10)], [payload(a, 10), payload(a, 10)])).toThrow(
      expect.objectContaining({ code: 'RELEASE_PAYLOAD_MISMATCH' }),
    );
  });

  it('needs no artifact for an integrated payload', () => {
    expect(matchPayloads([comp('00', a, 10, { integrated: true })], [])).toEqual([]);
  });

  it('pairs an encrypted payload by its named component', () => {
    const m = matchPayloads([comp('00', a, 10, { encrypted: true })], [payload(b, 26, '00')]);
    expect(m[0]?.componentId).toBe('00');
    expect(() => matchPayloads([comp('00', a, 10, { encrypted: true })], [payload(b, 26)])).toThrow(
      expect.objectContaining({ code: 'RELEASE_PAYLOAD_MISMATCH' }),
    );
  });
});
