import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ServerError } from '../../errors.js';
import { compareSemver } from '../../testing/filter-oracle.js';
import { FILTER_LIMITS, parseDuration, parseFilter } from './parse-filter.js';
import { semverKey } from './semver-key.js';

const NOW = new Date('2026-12-03T12:00:00.000Z');
const parse = (source: string) => parseFilter(source, { now: NOW });

/** The typed error `source` is refused with: code and position. */
function refusal(source: string): { code: string; offset: number; line: number; column: number } {
  try {
    parse(source);
  } catch (error) {
    if (!(error instanceof ServerError)) throw error;
    const p = error.details.position as { offset: number; line: number; column: number };
    return { code: error.code, ...p };
  }
  throw new Error(`accepted: ${source}`);
}

describe('parseFilter', () => {
  it('turns the issue example into the subset tree', () => {
    const f = parse(
      'device.class == "thermo-v2" && semver(device.components["814100"].version) < semver("3.7.0") && device.attributes.region in ["eu", "us"] && "beta" in device.tags && !has(device.attributes.lab)',
    );
    expect(JSON.stringify(f)).toContain('"kind":"component-semver","componentId":"814100"');
    expect(f).toMatchObject({
      kind: 'and',
      right: { kind: 'not', operand: { kind: 'has-attribute', name: 'lab' } },
    });
  });

  it('normalises constants: flipped comparisons, now - duration, timestamps', () => {
    expect(parse('3 < device.attributes.floor')).toEqual({
      kind: 'compare',
      field: { kind: 'attribute', name: 'floor' },
      op: '>',
      value: { type: 'number', value: 3 },
    });
    expect(parse('device.lastSeen > now - duration("1h30m")')).toMatchObject({
      value: { type: 'time', value: '2026-12-03T10:30:00.000Z' },
    });
    expect(parse('device.registeredAt <= timestamp("2026-01-01T01:00:00+01:00")')).toMatchObject({
      value: { type: 'time', value: '2026-01-01T00:00:00.000Z' },
    });
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('1d')).toBeUndefined();
  });

  it('points syntax errors at their line and column (FILTER_INVALID)', () => {
    expect(refusal('device.name == "x" &&')).toEqual({
      code: 'FILTER_INVALID',
      offset: 21,
      line: 1,
      column: 22,
    });
    expect(refusal('device.name == "a" ||\n  ("b" ==)')).toMatchObject({
      code: 'FILTER_INVALID',
      line: 2,
      column: 10,
    });
    expect(refusal('device.name == "\\q"')).toMatchObject({ code: 'FILTER_INVALID', column: 17 });
    expect(refusal('semver(device.components.app.version) < semver("3.7")')).toMatchObject({
      code: 'FILTER_INVALID',
      column: 48,
    });
    expect(refusal('device.lastSeen > timestamp("yesterday")')).toMatchObject({
      code: 'FILTER_INVALID',
      column: 29,
    });
    expect(refusal('device.name == "a\\x00"')).toMatchObject({ code: 'FILTER_INVALID' });
    expect(refusal('   ')).toMatchObject({ code: 'FILTER_INVALID', offset: 0 });
  });

  it('refuses valid CEL outside the subset, pointing at the construct (FILTER_UNSUPPORTED)', () => {
    const cases: Array<[string, number]> = [
      ['device.name.size() > 3', 0],
      ['device.tags.exists(t, t == "a")', 0],
      ['device.name == "a" ? true : false', 0],
      ['device.secret == "x"', 0],
      ['device.name < "m"', 0],
      ['device.attributes.region + "x" == "eux"', 0],
      ['device.name == device.class', 15],
      ['"a" in device.attributes', 7],
      ['device.name in device.tags', 0],
      ['size(device.tags) > 0', 0],
      ['1 == 1', 0],
      ['device.name', 0],
      ['device.attributes.on', 0],
      ['device.lastSeen > "2026-01-01"', 18],
      ['true && {"a": 1}', 8],
      ['device.name.matches(".*")', 0],
      ['semver(device.name) > semver("1.0.0")', 0],
      ['device.attributes.x == b"ab"', 23],
    ];
    for (const [source, offset] of cases)
      expect(refusal(source), source).toEqual({
        code: 'FILTER_UNSUPPORTED',
        offset,
        line: 1,
        column: offset + 1,
      });
  });

  it('bounds length, nesting, lists and strings', () => {
    const long = `device.name == "${'a'.repeat(FILTER_LIMITS.maxLength)}"`;
    expect(refusal(long)).toMatchObject({
      code: 'FILTER_INVALID',
      offset: FILTER_LIMITS.maxLength,
    });
    const nested = `${'!'.repeat(200)}true`;
    expect(refusal(nested).code).toBe('FILTER_INVALID');
    const parens = `${'('.repeat(1500)}true${')'.repeat(1500)}`;
    expect(refusal(parens).code).toBe('FILTER_INVALID');
    const list = `device.name in [${Array.from({ length: 101 }, (_, i) => `"d${i}"`).join(',')}]`;
    expect(refusal(list)).toMatchObject({ code: 'FILTER_INVALID', offset: 15 });
    expect(refusal(`device.name == "${'x'.repeat(257)}"`).code).toBe('FILTER_INVALID');
  });

  it('answers any text with a tree or a typed error, never anything else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (source) => {
        try {
          parse(source);
        } catch (error) {
          expect(error).toBeInstanceOf(ServerError);
          expect(['FILTER_INVALID', 'FILTER_UNSUPPORTED']).toContain((error as ServerError).code);
        }
      }),
      { numRuns: 2000, seed: 7 },
    );
  });
});

describe('semverKey', () => {
  it('orders by semver precedence: 1.10.0 > 1.9.0, pre-release < release, build ignored', () => {
    const ordered = [
      '0.9.9',
      '1.0.0-0.3.7',
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.9.0',
      '1.10.0',
      '10.0.0',
    ];
    const keys = ordered.map((v) => semverKey(v) as string);
    expect([...keys].sort()).toEqual(keys);
    expect(semverKey('1.0.0+build.7')).toBe(semverKey('1.0.0'));
    expect(keys.every((k) => /^[0-9]+$/.test(k))).toBe(true);
    for (const bad of ['1.0', '01.0.0', '1.0.0-', 'v1.0.0', '1.0.0-01', '99999999999.0.0', ''])
      expect(semverKey(bad), bad).toBeUndefined();
  });

  it('agrees with an independent semver comparison on generated versions', () => {
    const id = fc.oneof(
      fc.integer({ min: 0, max: 30 }).map(String),
      fc.stringMatching(/^[0-9A-Za-z-]{0,4}[A-Za-z-][0-9A-Za-z-]{0,3}$/),
    );
    const version = fc
      .tuple(
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 0, max: 12 }),
        fc.array(id, { maxLength: 3 }),
      )
      .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre.length ? `-${pre.join('.')}` : ''}`);
    fc.assert(
      fc.property(version, version, (a, b) => {
        const ka = semverKey(a) as string;
        const kb = semverKey(b) as string;
        expect(Math.sign(ka < kb ? -1 : ka > kb ? 1 : 0)).toBe(compareSemver(a, b));
      }),
      { numRuns: 3000, seed: 11 },
    );
  });
});
