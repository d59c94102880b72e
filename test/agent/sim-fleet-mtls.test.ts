import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnUpdraft } from '../e2e/cli-process.js';
import { type EstFixture, makePki, startEstFixture } from './est-fixture.js';

// `updraft sim fleet --mtls` as a process (its management calls trust the CA through
// NODE_EXTRA_CA_CERTS, as the CLI does) against the stand-in EST + device API.
let dir: string;
let fixture: EstFixture;
const tokenRequests: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sim-fleet-mtls-'));
  const pki = await makePki();
  fixture = await startEstFixture({
    pki,
    now: () => new Date(),
    token: 'enroll-me',
    intercept: (req, res, body) => {
      if (req.url !== '/api/v1/pki/enrollment-tokens') return false;
      if (req.headers.authorization !== 'Bearer admin-token') {
        res.writeHead(401).end();
        return true;
      }
      tokenRequests.push((JSON.parse(body.toString()) as { device: string }).device);
      res
        .writeHead(201, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token: 'enroll-me', expiresAt: new Date().toISOString() }));
      return true;
    },
  });
  await writeFile(join(dir, 'root.pem'), pki.root.certificatePem);
  await mkdir(join(dir, 'updraft'));
  await writeFile(
    join(dir, 'updraft', 'config.json'),
    JSON.stringify({ server: fixture.url, token: 'admin-token' }),
  );
  await writeFile(join(dir, 'devices.txt'), 'sim-a\nsim-b\nsim-c\n');
});
afterAll(async () => {
  await fixture.close();
  await rm(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) =>
  spawnUpdraft(args, {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'root.pem'), XDG_CONFIG_HOME: dir },
  });

describe('sim fleet --mtls', () => {
  it('gets a token per device, enrolls each over EST, and each checks in with its own certificate', async () => {
    expect(
      (await cli('keys', 'generate', '--alg', 'ed25519', '--out', join(dir, 'release'))).code,
    ).toBe(0);
    const image = await cli(
      'sim',
      'image',
      '--key',
      join(dir, 'release.key'),
      '--image-version',
      '1.0.0',
      '--sequence-number',
      '1',
      '--out',
      join(dir, 'fw.bin'),
    );
    expect(image.code, image.out).toBe(0);
    const r = await cli(
      'sim',
      'fleet',
      '--devices',
      '3',
      '--image',
      join(dir, 'fw.bin'),
      '--trusted-key',
      join(dir, 'release.pub'),
      '--server',
      fixture.url,
      '--vendor-id',
      'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
      '--class-id',
      '1492af14-2569-5e48-bf42-9b2d51f2ab45',
      '--tokens-file',
      join(dir, 'devices.txt'),
      '--mtls',
      '--ca-file',
      join(dir, 'root.pem'),
      '--json',
    );
    expect(r.code, r.out).toBe(0);
    expect(tokenRequests.sort()).toEqual(['sim-a', 'sim-b', 'sim-c']);
    const enrolls = fixture.requests.filter((q) => q.path === '/.well-known/est/simpleenroll');
    expect(enrolls).toHaveLength(3);
    const checkIns = fixture.requests.filter((q) => q.path === '/api/device/v1/check-in');
    expect(checkIns.length).toBeGreaterThanOrEqual(3);
    // Every check-in over mTLS with one of the issued certificates, never a bearer token; all three used.
    expect(
      checkIns.every((q) => q.clientCert !== null && fixture.issued.includes(q.clientCert)),
    ).toBe(true);
    expect(checkIns.every((q) => q.authorization === undefined)).toBe(true);
    expect(new Set(checkIns.map((q) => q.clientCert)).size).toBe(3);
  });
});
