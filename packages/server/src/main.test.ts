import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config/config.js';
import { startServer } from './main.js';

describe('startServer', () => {
  it('listens on the configured address, finishes in-flight requests on close, then refuses connections', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-main-'));
    const printed: string[] = [];
    try {
      const config = loadConfig({
        overrides: {
          dataDir,
          port: 0,
          mqtt: { port: 0 },
          auth: { adminPassword: 'main-test-password' },
        },
      });
      const logs: string[] = [];
      const server = await startServer(config, {
        handleSignals: false,
        print: (line) => printed.push(line),
        logStream: new Writable({
          write: (chunk, _e, cb) => {
            logs.push(String(chunk));
            cb();
          },
        }),
      });
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(printed).toContain(`Updraft server listening on ${server.url}`);
      expect(printed.join('\n')).toContain(`${server.url}/api/docs`);
      expect(printed.join('\n')).toContain(`updraft login --server ${server.url} --username admin`);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      // A slow in-flight request (login hashes with scrypt) still gets its answer during close.
      const received = new Promise((resolve) => server.app.server.once('request', resolve));
      const inflight = fetch(`${server.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ username: 'admin', password: 'main-test-password' }),
      });
      // Close only once the server has received it.
      await received;
      await server.close();
      expect((await inflight).status).toBe(200);
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
      // The data directory holds the embedded defaults.
      const again = await startServer(config, {
        handleSignals: false,
        print: (line) => printed.push(line),
        logStream: new Writable({ write: (_c, _e, cb) => cb() }),
      });
      expect(printed.filter((l) => l.includes('created admin account'))).toHaveLength(1);
      await again.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('does not wait for the keep-alive timeout of a connection whose request was in flight', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-main-'));
    try {
      const config = loadConfig({
        overrides: {
          dataDir,
          port: 0,
          mqtt: { mode: 'off' },
          auth: { adminPassword: 'main-test-password' },
          shutdownTimeoutMs: 60_000,
        },
      });
      const logs: string[] = [];
      const server = await startServer(config, {
        handleSignals: false,
        print: () => undefined,
        logStream: new Writable({
          write: (chunk, _e, cb) => {
            logs.push(String(chunk));
            cb();
          },
        }),
      });
      // A keep-alive client (as devices keep): after its answer the connection stays open, idle.
      const agent = new http.Agent({ keepAlive: true });
      const received = new Promise((resolve) => server.app.server.once('request', resolve));
      const inflight = new Promise<number>((resolve, reject) => {
        const req = http.request(
          `${server.url}/api/v1/auth/login`,
          { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ username: 'admin', password: 'main-test-password' }));
      });
      await received;
      const started = Date.now();
      await server.close();
      // Fastify's keep-alive timeout is 72 s and shutdownTimeoutMs 60 s here.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await inflight).toBe(200);
      expect(logs.join('')).not.toContain('timed out');
      agent.destroy();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});
