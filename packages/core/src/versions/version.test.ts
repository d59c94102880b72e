import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.js';
import {
  compareVersions,
  formatVersion,
  parseVersion,
  sequenceNumberFromVersion,
  versionFromSequenceNumber,
} from './version.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof CoreError) return error.code;
    throw error;
  }
  return 'OK';
}

describe('versions', () => {
  it('maps versions to readable sequence numbers', () => {
    expect(sequenceNumberFromVersion('1.2.3')).toBe(10000200003999);
    expect(sequenceNumberFromVersion('v1.2.3+build.7')).toBe(10000200003999);
    expect(sequenceNumberFromVersion('1.2.3-rc.1')).toBe(10000200003001);
    expect(sequenceNumberFromVersion('0.0.1')).toBe(1999);
    expect(versionFromSequenceNumber(10000200003001)).toEqual({
      major: 1,
      minor: 2,
      patch: 3,
      release: false,
      prereleaseNumber: 1,
    });
    expect(sequenceNumberFromVersion('899.99999.99999')).toBeLessThan(Number.MAX_SAFE_INTEGER);
  });

  it('rejects what it cannot map, with VERSION_INVALID', () => {
    for (const v of [
      '1.2',
      '01.2.3',
      '1.2.3-rc',
      '1.2.3-rc.999',
      '900.0.0',
      '1.100000.0',
      'x',
      '1.2.3-a.b.1',
    ]) {
      expect(
        codeOf(() => sequenceNumberFromVersion(v)),
        v,
      ).toBe('VERSION_INVALID');
    }
  });

  it('orders versions as semver does', () => {
    const ordered = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
    ];
    for (let i = 1; i < ordered.length; i++)
      expect(compareVersions(ordered[i - 1]!, ordered[i]!)).toBe(-1);
    expect(formatVersion(parseVersion('v1.0.0-rc.1+b'))).toBe('1.0.0-rc.1+b');
  });

  it('gives newer versions larger sequence numbers (property)', () => {
    const version = fc
      .tuple(
        fc.nat(899),
        fc.nat(99_999),
        fc.nat(99_999),
        fc.option(fc.nat(998), { nil: undefined }),
      )
      .map(([a, b, c, rc]) => `${a}.${b}.${c}${rc === undefined ? '' : `-rc.${rc}`}`);
    fc.assert(
      fc.property(version, version, (x, y) => {
        expect(Math.sign(sequenceNumberFromVersion(x) - sequenceNumberFromVersion(y))).toBe(
          compareVersions(x, y),
        );
      }),
      { numRuns: 2000 },
    );
  });
});
