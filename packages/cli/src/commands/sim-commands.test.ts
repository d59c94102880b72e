import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importPem } from '@updraft/core';
import { LAYOUT_NAMES, trustedImageKey, verifyImage } from '@updraft/sim';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { run, tempDir } from '../testing/capture-io.js';
import { SIM_LAYOUTS } from './sim-options.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  expect((await run(dir, ['keys', 'generate', '--alg', 'ed25519', '--out', 'release'])).code).toBe(
    0,
  );
});
afterEach(() => cleanup());

const image = (
  version: string,
  seq: number,
  behaviour = 'healthy',
  out = `fw-${version}.bin`,
  size = 6000,
) =>
  run(dir, [
    'sim',
    'image',
    '--key',
    'release.key',
    '--image-version',
    version,
    '--sequence-number',
    String(seq),
    '--behaviour',
    behaviour,
    '--size',
    String(size),
    '--out',
    out,
  ]);
const offline = [
  '--offline',
  '--image',
  'fw-1.0.0.bin',
  '--key',
  'release.key',
  '--trusted-key',
  'release.pub',
];

describe('updraft sim', () => {
  it('keeps its layout choices in sync with @updraft/sim', () => {
    expect([...SIM_LAYOUTS]).toEqual([...LAYOUT_NAMES]);
  });

  it('sim image writes a signed image the release key verifies', async () => {
    const r = await image('1.0.0', 1, 'hangs');
    expect(r.code).toBe(EXIT_CODES.ok);
    const bytes = new Uint8Array(await readFile(join(dir, 'fw-1.0.0.bin')));
    const pub = trustedImageKey(importPem(await readFile(join(dir, 'release.pub'))));
    const v = verifyImage({
      read: (o, l) => bytes.slice(o, o + l),
      limit: bytes.length,
      trustedKeys: [pub],
    });
    expect(v.ok && v.info).toMatchObject({
      versionString: '1.0.0',
      securityCounter: 1,
      behaviour: 'hangs',
    });
  });

  it('sim image builds firmware-like images: a delta between consecutive versions is a small fraction of one', async () => {
    const build = (version: string, seq: number) =>
      image(version, seq, 'healthy', `big-${version}.bin`, 64 * 1024);
    expect((await build('2.0.0', 5)).code).toBe(EXIT_CODES.ok);
    expect((await build('2.0.1', 6)).code).toBe(EXIT_CODES.ok);
    const made = await run(dir, ['delta', 'create', 'big-2.0.0.bin', 'big-2.0.1.bin', 'p.delta']);
    expect(made.code, made.stderr).toBe(EXIT_CODES.ok);
    const patch = await readFile(join(dir, 'p.delta'));
    const next = await readFile(join(dir, 'big-2.0.1.bin'));
    // Random filler made this ratio ~100 %; firmware-like builds of one product share most bytes.
    expect(patch.length / next.length).toBeLessThan(0.2);
  });

  it('sim image refuses a bad version with a usage-class error and writes nothing', async () => {
    const r = await image('1.x', 1);
    expect(r.code).not.toBe(EXIT_CODES.ok);
    await expect(readFile(join(dir, 'fw-1.x.bin'))).rejects.toThrow();
  });

  it('sim device --offline updates, trial-boots and confirms, logging each boot', async () => {
    await image('1.0.0', 1);
    await image('1.1.0', 2);
    const r = await run(dir, ['sim', 'device', ...offline, '--release', 'fw-1.1.0.bin', '--json']);
    expect(r.code).toBe(EXIT_CODES.ok);
    const out = r.json<{ version: string; slot: string; boots: number; log: string[] }>();
    expect(out).toMatchObject({ version: '1.1.0', slot: 'b', boots: 2 });
    expect(out.log.join('\n')).toContain('swap=test version=1.1.0 seq=2 (trial)');
  });

  it('sim device --state keeps the device across runs, and refuses a state file that is not one', async () => {
    await image('1.0.0', 1);
    await image('1.1.0', 2);
    const args = [
      'sim',
      'device',
      ...offline,
      '--release',
      'fw-1.1.0.bin',
      '--state',
      'dev.json',
      '--json',
    ];
    expect((await run(dir, args)).json()).toMatchObject({ version: '1.1.0', boots: 2 });
    const again = await run(dir, args);
    expect(again.json()).toMatchObject({ version: '1.1.0', slot: 'b', boots: 1 });
    await writeFile(join(dir, 'bad.json'), '{"format":"nope"}');
    const bad = await run(dir, [
      'sim',
      'device',
      ...offline,
      '--release',
      'fw-1.1.0.bin',
      '--state',
      'bad.json',
    ]);
    expect(bad.code).not.toBe(EXIT_CODES.ok);
    expect(bad.stderr).toContain('not a sim device state');
  });

  it('sim fleet --offline reverts every device from a release that crashes on boot', async () => {
    await image('1.0.0', 1);
    await image('1.2.0', 3, 'crash-on-boot');
    const r = await run(dir, [
      'sim',
      'fleet',
      '--devices',
      '5',
      ...offline,
      '--release',
      'fw-1.2.0.bin',
      '--json',
    ]);
    expect(r.code).toBe(EXIT_CODES.ok);
    expect(r.json()).toMatchObject({ outcomes: { idle: 5, bricked: 0 }, versions: { '1.0.0': 5 } });
  });

  it('sim fleet --offline --fault-rate: 1 makes every device revert a good release, 0 none', async () => {
    await image('1.0.0', 1);
    await image('1.1.0', 2);
    const fleet = (rate: string) =>
      run(dir, [
        'sim',
        'fleet',
        '--devices',
        '6',
        ...offline,
        '--release',
        'fw-1.1.0.bin',
        '--fault-rate',
        rate,
        '--json',
      ]);
    const all = await fleet('1');
    expect(all.code, all.stderr).toBe(EXIT_CODES.ok);
    expect(all.json()).toMatchObject({
      faulty: 6,
      versions: { '1.0.0': 6 },
      updates: { installed: 0, failed: 6, reverted: 6 },
    });
    const none = await fleet('0');
    expect(none.json()).toMatchObject({
      faulty: 0,
      versions: { '1.1.0': 6 },
      updates: { installed: 6, failed: 0, reverted: 0 },
    });
  });

  it('sim fleet refuses bad --duration, --poll-interval and --fault-rate values before it starts', async () => {
    await image('1.0.0', 1);
    const fleet = (...extra: string[]) =>
      run(dir, [
        'sim',
        'fleet',
        '--image',
        'fw-1.0.0.bin',
        '--trusted-key',
        'release.pub',
        '--server',
        'http://127.0.0.1:9',
        '--json',
        ...extra,
      ]);
    for (const bad of [
      ['--fault-rate', '1.5'],
      ['--fault-rate', '-0.1'],
      ['--fault-rate', 'half'],
      ['--fault-rate', '0.5.1'],
      ['--duration', '0'],
      ['--duration', '1.5'],
      ['--duration', '99999999'],
      ['--poll-interval', '0'],
      ['--poll-interval', '-5'],
      ['--fault-seed', ''],
    ]) {
      const r = await fleet(...bad);
      expect(r.code, bad.join(' ')).toBe(EXIT_CODES.input);
      expect(r.json()).toMatchObject({
        error: { code: 'SIM_CONFIG_INVALID', details: { option: bad[0]?.slice(2) } },
      });
    }
    const offlineDuration = await run(dir, ['sim', 'fleet', ...offline, '--duration', '60']);
    expect(offlineDuration.code).toBe(EXIT_CODES.usage);
    expect(offlineDuration.stderr).toContain('need --server');
    const both = await fleet('--duration', '60', '--timeout', '30');
    expect(both.code).toBe(EXIT_CODES.usage);
  });

  it('sim device refuses an image the trusted key does not verify', async () => {
    await image('1.0.0', 1);
    expect((await run(dir, ['keys', 'generate', '--alg', 'ed25519', '--out', 'other'])).code).toBe(
      0,
    );
    const r = await run(dir, [
      'sim',
      'device',
      '--offline',
      '--image',
      'fw-1.0.0.bin',
      '--trusted-key',
      'other.pub',
    ]);
    expect(r.code).toBe(EXIT_CODES.usage);
    expect(r.stderr).toContain('SIM_IMAGE_UNTRUSTED_KEY');
  });

  it('sim fleet with --server needs a token per device', async () => {
    await image('1.0.0', 1);
    const r = await run(dir, [
      'sim',
      'fleet',
      '--devices',
      '3',
      '--image',
      'fw-1.0.0.bin',
      '--trusted-key',
      'release.pub',
      '--server',
      'http://127.0.0.1:9',
    ]);
    expect(r.code).toBe(EXIT_CODES.usage);
    expect(r.stderr).toContain('0 tokens for 3 devices');
  });
});
