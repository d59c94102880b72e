import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run, tempDir } from '../../packages/cli/src/testing/capture-io.js';
import { type EstFixture, makePki, startEstFixture, type TestPki } from './est-fixture.js';

let pki: TestPki;
let fixture: EstFixture;
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  pki = await makePki();
});
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  fixture = await startEstFixture({ pki, now: () => new Date(), token: 'one-time-secret' });
  const { publicKey } = generateKeyPairSync('ed25519');
  await writeFile(join(dir, 'release.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'ca.pem'), pki.root.certificatePem);
  await writeFile(
    join(dir, 'agent.json'),
    JSON.stringify({
      server: { url: fixture.url },
      device: {
        name: 'pump-9',
        vendorId: 'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
        classId: '1492af14-2569-5e48-bf42-9b2d51f2ab45',
      },
      trustedKeys: ['release.pub'],
      stateDir: 'state',
      slots: {
        a: { path: 'a.img', size: 65536 },
        b: { path: 'b.img', size: 65536 },
        sectorSize: 4096,
      },
    }),
  );
});
afterEach(async () => {
  await fixture.close();
  await cleanup();
});

const args = ['agent', 'run', '--config', 'agent.json', '--once', '--ca-file', 'ca.pem'];

describe('agent run with a pinned CA', () => {
  it('enrolls with --enroll-token on first start, then checks in over mTLS (and never logs the token)', async () => {
    const first = await run(dir, [...args, '--enroll-token', 'one-time-secret']);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('"message":"enrolled"');
    expect(first.stderr).not.toContain('one-time-secret');
    const second = await run(dir, [...args, '--enroll-token', 'one-time-secret']);
    expect(second.code).toBe(0);
    expect(fixture.requests.map((r) => r.path)).toEqual([
      '/.well-known/est/simpleenroll',
      '/api/device/v1/check-in',
      // The second start is enrolled already: no second enrollment.
      '/api/device/v1/check-in',
    ]);
    const checkIns = fixture.requests.filter((r) => r.path.endsWith('check-in'));
    expect(checkIns.every((r) => r.clientCert === fixture.issued[0])).toBe(true);
    expect(checkIns.every((r) => r.authorization === undefined)).toBe(true);
    const state = JSON.parse(await readFile(join(dir, 'state/identity/identity.json'), 'utf8'));
    expect(state.current).toMatch(/^device-\d+$/);
  });

  it('exits 8 with AGENT_ENROLLMENT_REFUSED when the token is refused, and stores no certificate', async () => {
    const r = await run(dir, [...args, '--enroll-token', 'wrong']);
    expect(r.code).toBe(8);
    expect(r.stderr).toContain('AGENT_ENROLLMENT_REFUSED');
    const state = JSON.parse(await readFile(join(dir, 'state/identity/identity.json'), 'utf8'));
    expect(state.current).toBeNull();
  });

  it('refuses a leaf as --ca-file (AGENT_CONFIG_INVALID) before any request', async () => {
    await writeFile(join(dir, 'ca.pem'), pki.server.certificatePem);
    const r = await run(dir, [...args, '--enroll-token', 'one-time-secret']);
    expect(r.stderr).toContain('AGENT_CONFIG_INVALID');
    expect(fixture.requests).toHaveLength(0);
  });
});
