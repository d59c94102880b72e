import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpTransport, PinnedCa } from '@updraft/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki, type TestPki } from './est-fixture.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let pki: TestPki;
let dir: string;
beforeAll(async () => {
  pki = await makePki();
  dir = await mkdtemp(join(tmpdir(), 'agent-tls-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the agent trusts its pinned CA only', () => {
  it('refuses a server whose chain leads elsewhere although NODE_EXTRA_CA_CERTS trusts that chain', async () => {
    const foreign = await makePki();
    const extra = join(dir, 'extra-ca.pem');
    await writeFile(extra, foreign.root.certificatePem);
    const server = createServer(
      {
        cert: foreign.server.certificatePem + foreign.issuing.certificatePem,
        key: foreign.server.privateKeyPem,
        minVersion: 'TLSv1.3',
      },
      (_req, res) => res.end('pong'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const out = await new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          ['--conditions=updraft-source', '--import', 'tsx', join(root, 'test/agent/pin-child.ts')],
          {
            cwd: root,
            env: {
              ...process.env,
              NODE_EXTRA_CA_CERTS: extra,
              TARGET_URL: url,
              PIN_PEM: pki.issuing.certificatePem,
            },
            timeout: 30_000,
          },
          (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout)),
        );
      });
      // The process trusts the foreign root (plain request works); the pinned transport does not.
      expect(JSON.parse(out)).toEqual({ plain: 'status 200', pinned: 'AGENT_TLS_REFUSED' });
    } finally {
      server.close();
    }
  });
});

describe('the agent refuses TLS below 1.3', () => {
  let files: { cert: string; key: string; chain: string };
  beforeAll(async () => {
    files = {
      cert: join(dir, 'server.pem'),
      key: join(dir, 'server.key'),
      chain: join(dir, 'chain.pem'),
    };
    await writeFile(files.cert, pki.server.certificatePem);
    await writeFile(files.key, pki.server.privateKeyPem);
    await writeFile(files.chain, pki.issuing.certificatePem);
  });

  async function sServer(
    version: '-tls1_2' | '-tls1_3',
  ): Promise<{ url: string; child: ChildProcess }> {
    // A free port: bind one, release it, hand it to openssl.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const child = spawn(
      'openssl',
      [
        's_server',
        version,
        '-accept',
        `127.0.0.1:${port}`,
        '-cert',
        files.cert,
        '-key',
        files.key,
        '-cert_chain',
        files.chain,
        '-www',
        '-naccept',
        '1',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('openssl s_server did not start')), 10_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ACCEPT')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return { url: `https://127.0.0.1:${port}`, child };
  }

  for (const [flag, expected] of [
    ['-tls1_2', 'AGENT_TLS_REFUSED'],
    ['-tls1_3', 'accepted'],
  ] as const) {
    it(`answers ${expected} to openssl s_server ${flag} with a certificate from the pinned CA`, async () => {
      const { url, child } = await sServer(flag);
      try {
        const transport = new HttpTransport({
          baseUrl: url,
          token: 't',
          pinnedCa: PinnedCa.parse(pki.root.certificatePem),
        });
        const result = await transport
          .fetchEnvelope(`${url}/`, 1024 * 1024)
          .then(() => 'accepted')
          .catch((e: { code?: string }) => e.code);
        expect(result).toBe(expected);
      } finally {
        child.kill();
      }
    });
  }
});
