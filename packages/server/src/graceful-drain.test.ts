import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from './features/users/token.repository.js';
import { createUser } from './features/users/user.repository.js';
import {
  type Fleet,
  injectOverHttp,
  seedFleet,
  uploadRelease,
} from './testing/release-fixtures.js';
import { type SpawnedServer, spawnServer } from './testing/spawn-server.js';
import { openTestDatabase, type TestDatabase } from './testing/test-database.js';

const DRAIN_MS = 1500;
const MIB = 1024 * 1024;

/** A GET on its own keep-alive connection whose reader takes `chunkDelayMs` per chunk read. */
function slowDownload(url: string, chunkDelayMs: number) {
  let received = 0;
  const done = new Promise<{ status: number; digest: string; bytes: number }>((resolve, reject) => {
    http
      // A keep-alive connection (as a device's HTTP client keeps): it must not hold the exit up.
      .get(url, { agent: new http.Agent({ keepAlive: true }) }, (res) => {
        const hash = createHash('sha256');
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          received += chunk.length;
          res.pause();
          setTimeout(() => res.resume(), chunkDelayMs);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, digest: hash.digest('hex'), bytes: received }),
        );
        res.on('error', reject);
      })
      .on('error', reject);
  });
  return { done, received: () => received };
}

const refused = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(2000) }).then(
    () => false,
    (error: { cause?: { code?: string } }) => error.cause?.code === 'ECONNREFUSED',
  );

// The real server as a child process gets SIGTERM while a large download trickles out to a slow
// reader: readiness fails at once while it still serves, then the listener closes, the download
// completes intact, and the process exits 0.
describe('graceful drain on SIGTERM', () => {
  let db: TestDatabase;
  let dataDir: string;
  let fleet: Fleet;
  let server: SpawnedServer | undefined;
  let admin: Record<string, string>;
  beforeAll(async () => {
    db = await openTestDatabase('sqlite');
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-drain-'));
    fleet = await seedFleet(db.handle.db, { deviceCount: 1 });
    const at = new Date().toISOString();
    const token = await db.handle.db.transaction().execute(async (trx) => {
      const user = await createUser(
        trx,
        fleet.tenantId,
        { username: 'drain-admin', passwordHash: 'x', roles: ['admin'] },
        at,
      );
      return (
        await issueToken(
          trx,
          fleet.tenantId,
          { userId: user.id, kind: 'api', name: 'drain', expiresAt: null },
          at,
        )
      ).token;
    });
    admin = { authorization: `Bearer ${token}` };
  });
  afterAll(async () => {
    await server?.kill('SIGKILL');
    await db?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('fails readiness first, finishes the download in flight, then refuses connections and exits 0', async () => {
    server = await spawnServer({
      UPDRAFT_DATA_DIR: dataDir,
      UPDRAFT_ADMIN_PASSWORD: 'drain-test-password-42',
      UPDRAFT_RATE_LIMIT_ENABLED: 'false',
      UPDRAFT_MQTT_MODE: 'off',
      UPDRAFT_DATABASE_KIND: 'sqlite',
      UPDRAFT_DATABASE_SQLITE_FILE: db.config.sqliteFile,
      UPDRAFT_SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
      UPDRAFT_SHUTDOWN_TIMEOUT_MS: '30000',
    });
    const base = server.url;
    const payload = randomBytes(4 * MIB);
    const releaseId = await uploadRelease(
      injectOverHttp(base),
      { ...admin, 'content-type': 'application/json' },
      fleet,
      1,
      [payload],
    );
    const assigned = await fetch(`${base}/api/v1/actions`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: fleet.devices[0]!.id, releaseId }),
    });
    expect(assigned.status).toBe(201);
    const checkIn = await fetch(`${base}/api/device/v1/check-in`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${fleet.devices[0]!.token}`,
        'content-type': 'application/json',
      },
      body: '{}',
    });
    const { action } = (await checkIn.json()) as { action: { payloads: { url: string }[] } };

    // ~1 MiB/s: the 4 MiB take ~4 s, well past the drain window.
    const download = slowDownload(`${base}${action.payloads[0]!.url}`, 60);
    while (download.received() === 0) await new Promise((r) => setTimeout(r, 20));
    const sigterm = Date.now();
    const exited = server.kill('SIGTERM');

    // During the drain window: not ready, still alive and serving, and telling clients to go.
    await new Promise((r) => setTimeout(r, 200));
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('content-type')).toContain('application/problem+json');
    expect(((await ready.json()) as { detail: string }).detail).toContain('draining');
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(health.headers.get('connection')).toBe('close');
    const served = await fetch(`${base}/api/v1/releases/${releaseId}`, { headers: admin });
    expect(served.status).toBe(200);
    expect(Date.now() - sigterm).toBeLessThan(DRAIN_MS);

    // After the window the listener is closed while the download is still going.
    while (!(await refused(`${base}/healthz`))) {
      expect(Date.now() - sigterm).toBeLessThan(DRAIN_MS + 5000);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(Date.now() - sigterm).toBeGreaterThanOrEqual(DRAIN_MS);
    expect(download.received()).toBeLessThan(payload.length);

    const result = await download.done;
    const downloaded = Date.now();
    expect(result.status).toBe(200);
    expect(result.bytes).toBe(payload.length);
    expect(result.digest).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(await exited).toEqual({ code: 0, signal: null });
    // Well before the 30 s shutdownTimeoutMs: nothing waited for the idle keep-alive connection.
    expect(Date.now() - downloaded).toBeLessThan(10_000);
    expect(server.output()).not.toContain('timed out');
  }, 90_000);
});
