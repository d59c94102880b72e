import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The README walkthrough, run through the real `updraft` executable as a child process (sources
// through tsx, so no build is needed): keys generate → manifest create → sign → verify, then a
// changed byte in the envelope or in the image must be caught with the right code.
const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'packages/cli/src/bin.ts');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function updraft(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    // cwd is the repository root so that `--import tsx` resolves; every path argument is absolute.
    execFile(
      process.execPath,
      ['--conditions=updraft-source', '--import', 'tsx', bin, ...args],
      { cwd: root, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function expectCaught(r: Run, exitCode: number, code: string): void {
  expect(r.code, r.stderr).toBe(exitCode);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(new RegExp(`^updraft: .*\\[${code}\\]\\n$`));
  expect(r.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

let dir: string;
const p = (name: string) => join(dir, name);
let envelope: Buffer;
let kid: string;
let imageSha256: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-walkthrough-'));
  await writeFile(p('app.bin'), randomBytes(256 * 1024));
  await writeFile(
    p('release.yaml'),
    [
      'vendor: example.com',
      'class: thermostat-v2',
      'version: 1.3.0',
      'text: { updateDescription: Fixes the relay timing }',
      'components:',
      '  - { image: app.bin, slot: 1, uri: "https://fw.example.com/app-1.3.0.bin" }',
      '',
    ].join('\n'),
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the CLI walkthrough', () => {
  it('generates a key pair', async () => {
    const r = await updraft('keys', 'generate', '--alg', 'es256', '--out', p('release'), '--json');
    expect(r.code, r.stderr).toBe(0);
    kid = JSON.parse(r.stdout).kid;
    expect(kid).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(p('release.key'))).mode & 0o777).toBe(0o600);
  });

  it('creates, signs and verifies a manifest', async () => {
    const created = await updraft(
      'manifest',
      'create',
      p('release.yaml'),
      '--out',
      p('app.suit'),
      '--json',
    );
    expect(created.code, created.stderr).toBe(0);
    imageSha256 = JSON.parse(created.stdout).components[0].sha256;

    const signed = await updraft('manifest', 'sign', p('app.suit'), '--key', p('release.key'));
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stdout).toMatch(/signed .*app\.suit with ES256/);

    const verified = await updraft(
      'manifest',
      'verify',
      p('app.suit'),
      '--trust',
      p('release.pub'),
      '--vendor-id',
      'example.com',
      '--class-id',
      'thermostat-v2',
      '--installed-seq',
      '5',
      '--image',
      p('app.bin'),
    );
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/verified\n/);
    expect(verified.stdout).toMatch(/component 814100: fetch 262144 bytes into slot 1/);
    envelope = await readFile(p('app.suit'));
  });

  it.each([
    ['the CBOR structure', () => 0, 5, 'MANIFEST_MALFORMED'],
    [
      'the signed digest',
      () => envelope.indexOf(Buffer.from('5820', 'hex')) + 5,
      4,
      'MANIFEST_SIGNATURE_INVALID',
    ],
    [
      'the signature',
      () => envelope.indexOf(Buffer.from(kid, 'hex')) + 32 + 3 + 10,
      4,
      'MANIFEST_SIGNATURE_INVALID',
    ],
    [
      'the manifest',
      () => envelope.indexOf(Buffer.from(imageSha256, 'hex')) + 5,
      4,
      'MANIFEST_DIGEST_MISMATCH',
    ],
    ['the severable text', () => envelope.length - 1, 4, 'MANIFEST_DIGEST_MISMATCH'],
  ])('catches a byte changed in %s', async (_where, position, exitCode, code) => {
    const at = position();
    expect(at).toBeGreaterThanOrEqual(0);
    const tampered = Buffer.from(envelope);
    tampered[at]! ^= 0x01;
    await writeFile(p('tampered.suit'), tampered);
    expectCaught(
      await updraft('manifest', 'verify', p('tampered.suit'), '--trust', p('release.pub')),
      exitCode,
      code,
    );
  });

  it('catches a byte changed in the image', async () => {
    const image = await readFile(p('app.bin'));
    image[image.length >> 1]! ^= 0x80;
    await writeFile(p('tampered.bin'), image);
    const r = await updraft(
      'manifest',
      'verify',
      p('app.suit'),
      '--trust',
      p('release.pub'),
      '--image',
      p('tampered.bin'),
    );
    expectCaught(r, 4, 'MANIFEST_DIGEST_MISMATCH');
    expect(r.stderr).toMatch(/tampered\.bin \(component 814100\)/);
  });

  it('answers a bad command line with a usage error and JSON errors with --json', async () => {
    expectCaught(await updraft('manifest', 'verify', p('app.suit')), 2, 'CLI_USAGE');
    const r = await updraft(
      'manifest',
      'verify',
      p('missing.suit'),
      '--trust',
      p('release.pub'),
      '--json',
    );
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({
      error: { code: 'CLI_FILE_NOT_FOUND', exitCode: 3 },
    });
    expect(r.stderr).toBe('');
  });
});
