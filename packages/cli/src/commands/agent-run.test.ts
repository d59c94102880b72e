import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { run, tempDir } from '../testing/capture-io.js';

let dir: string;
let cleanup: () => Promise<void>;
let server: Server;
let url: string;
const checkIns: { auth: string | undefined; body: unknown }[] = [];
const TOKEN = 'device-secret-token';

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  checkIns.length = 0;
  // A minimal device API: nothing to install.
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ code: 'AUTH_TOKEN_INVALID', status: 401 }));
        return;
      }
      if (req.method === 'POST' && req.url === '/api/device/v1/check-in') {
        checkIns.push({
          auth: req.headers.authorization,
          body: JSON.parse(Buffer.concat(chunks).toString()),
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ pollIntervalSeconds: 60, action: null }));
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await cleanup();
});

async function writeConfig(extra: Record<string, unknown> = {}): Promise<void> {
  const { publicKey } = generateKeyPairSync('ed25519');
  await writeFile(join(dir, 'release.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(
    join(dir, 'agent.json'),
    JSON.stringify({
      server: { url, token: TOKEN },
      device: {
        vendorId: 'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
        classId: '1492af14-2569-5e48-bf42-9b2d51f2ab45',
        attributes: { hw: 'B' },
      },
      trustedKeys: ['release.pub'],
      stateDir: 'state',
      slots: {
        a: { path: 'a.img', size: 65536 },
        b: { path: 'b.img', size: 65536 },
        sectorSize: 4096,
      },
      installed: { version: '1.0.0', sequenceNumber: 4 },
      ...extra,
    }),
  );
}

describe('agent run', () => {
  it('polls once with --once, reporting what is installed, and keeps its boot state', async () => {
    await writeConfig();
    const r = await run(dir, ['agent', 'run', '--config', 'agent.json', '--once']);
    expect(r.code).toBe(0);
    expect(checkIns).toEqual([
      {
        auth: 'Bearer device-secret-token',
        body: {
          components: [{ id: '814100', version: '1.0.0', sequenceNumber: 4, digest: null }],
          attributes: { hw: 'B' },
        },
      },
    ]);
    const boot = JSON.parse(await readFile(join(dir, 'state', 'boot-state.json'), 'utf8'));
    expect(boot).toMatchObject({ booted: 'a', trial: false, pending: null });
    // The log says what happened and never carries the token.
    expect(r.stderr).toContain('"to":"Idle"');
    expect(r.stderr).not.toContain('device-secret-token');
  });

  it('refuses an invalid config with every problem listed, and touches nothing', async () => {
    await writeConfig({ server: { url: 'ftp://nope' }, slots: {} });
    const r = await run(dir, ['agent', 'run', '--config', 'agent.json', '--once']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('AGENT_CONFIG_INVALID');
    expect(r.stderr).toContain('server.url');
    expect(r.stderr).toContain('slots.a');
    expect(checkIns).toHaveLength(0);
  });

  it('reports the SHA-256 of the factory image in slot a, and keeps it once the slot is sized', async () => {
    await writeConfig();
    const factory = Buffer.alloc(10_000, 0x5a);
    await writeFile(join(dir, 'a.img'), factory);
    const digest = createHash('sha256').update(factory).digest('hex');
    for (let i = 0; i < 2; i++) {
      const r = await run(dir, ['agent', 'run', '--config', 'agent.json', '--once']);
      expect(r.code).toBe(0);
    }
    // The second run finds slot a sized to 64 KiB: the digest comes from the journal's cache.
    expect(
      checkIns.map((c) => (c.body as { components: { digest: string }[] }).components[0]?.digest),
    ).toEqual([digest, digest]);
  });

  it('fails with AGENT_AUTH_REJECTED (exit 8) when the service refuses the token', async () => {
    await writeConfig({ server: { url, token: 'revoked-token' } });
    const r = await run(dir, ['agent', 'run', '--config', 'agent.json', '--once']);
    expect(r.code).toBe(EXIT_CODES.service);
    expect(r.stderr).toContain('AGENT_AUTH_REJECTED');
    expect(r.stderr).toMatch(/"level":"error".*check-in failed/);
    expect(r.stderr).not.toContain('revoked-token');
  });

  it('fails with AGENT_SERVER_UNREACHABLE (exit 8) against a closed port', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await writeConfig({ server: { url: `http://127.0.0.1:${port}`, token: TOKEN } });
    const r = await run(dir, ['agent', 'run', '--config', 'agent.json', '--once']);
    expect(r.code).toBe(EXIT_CODES.service);
    expect(r.stderr).toContain('AGENT_SERVER_UNREACHABLE');
    expect(r.stdout).not.toMatch(/idle|stopped/);
  });
});
