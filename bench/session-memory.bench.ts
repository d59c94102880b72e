// Memory per cached device: heap bytes one idle device's cached state costs a server process
//
// Run: npm run bench:session-memory -- [--devices 100000]
// The real server runs in this process (SQLite, embedded MQTT broker on, so push endpoints are
// cached too) with the fleet-load bench's device fixture. Every device checks in once through
// the HTTP route (app.inject: the full route, authentication and check-in code), which fills its
// cached session, its push endpoint and its last report. The heap after a full GC, before and
// after, divided by the devices cached, is the figure `device.sessionCacheEntries` is documented
// with. Prints `session-memory devices=<n> bytesPerDevice=<x> cached=<n>`; writes
// bench/results/session-memory.json.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildServer, loadConfig } from '../packages/server/src/index.ts';
import { seedFleet } from '../packages/server/src/testing/release-fixtures.ts';
import { arg } from './args.ts';
import { type SeedReport, seedSpecOf, seedSqlite } from './fleet-load/seed-devices.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TENANT = 'ten_default';
const REPORT: SeedReport = { components: [{ id: '814100', version: '1.2.0', sequenceNumber: 12 }] };
const BODY = JSON.stringify(REPORT);

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench:session-memory)');

/** Heap in use after full collections (twice: weak maps clear in a second pass). */
function settledHeap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

async function main(): Promise<void> {
  const devices = Number(arg('devices', '100000'));
  const withPush = !process.argv.includes('--no-mqtt');
  const dir = await mkdtemp(path.join(tmpdir(), 'updraft-bench-session-memory-'));
  const tokenPrefix = `updraft_device_sm${randomBytes(6).toString('hex')}x`;
  const config = loadConfig({
    overrides: {
      dataDir: dir,
      logLevel: 'warn',
      auth: { adminPassword: 'bench-admin-password-0123' },
      rateLimit: { enabled: false },
      device: { sessionCacheEntries: devices },
      mqtt: withPush ? { port: 0 } : { mode: 'off' },
      metrics: { public: true },
    },
  });
  const app = await buildServer(config, { print: () => undefined });
  try {
    // The embedded broker listening, as `updraft server start` has it: answers carry push endpoints.
    await app.ready();
    if (withPush) await app.wiring.mqtt.start();
    const fleet = await seedFleet(app.updraft.db, {
      tenantId: TENANT,
      deviceCount: 0,
      className: 'session-memory',
    });
    seedSqlite(
      config.database.sqliteFile,
      seedSpecOf(
        { count: devices, tenantId: TENANT, deviceClassId: fleet.deviceClassId, tokenPrefix },
        REPORT,
      ),
    );
    // The cache's own count, as /metrics reports it.
    const cachedSessions = async () => {
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const m = /^updraft_device_session_cache_entries (\d+)$/m.exec(text);
      if (m === null) throw new Error('no updraft_device_session_cache_entries in /metrics');
      return Number(m[1]);
    };
    const checkIn = async (i: number) => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/device/v1/check-in',
        headers: {
          authorization: `Bearer ${tokenPrefix}${i}`,
          'content-type': 'application/json',
        },
        payload: BODY,
      });
      if (res.statusCode !== 200) throw new Error(`check-in ${i}: ${res.statusCode} ${res.body}`);
      if (withPush && !res.body.includes('"push"')) throw new Error('no push endpoint answered');
    };
    // The code paths warm (JIT, pools, the last-seen batch) on devices that are then measured
    // again: the first 1,000 check in twice, so the baseline already holds their sessions.
    const warm = Math.min(1_000, devices);
    for (let i = 0; i < warm; i++) await checkIn(i);
    await app.updraft.lastSeen.flush();
    const cachedBefore = await cachedSessions();
    const before = settledHeap();
    const started = performance.now();
    for (let i = warm; i < devices; i += 64) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < Math.min(devices, i + 64); j++) batch.push(checkIn(j));
      await Promise.all(batch);
    }
    await app.updraft.lastSeen.flush();
    const seconds = (performance.now() - started) / 1000;
    const after = settledHeap();
    const cached = (await cachedSessions()) - cachedBefore;
    if (cached !== devices - warm)
      throw new Error(`expected ${devices - warm} new cached sessions, found ${cached}`);
    const bytesPerDevice = Math.round((after - before) / cached);
    const result = {
      benchmark: 'session-memory',
      at: new Date().toISOString(),
      node: process.version,
      devices,
      cached,
      heapBytesBefore: before,
      heapBytesAfter: after,
      bytesPerDevice,
      checkInSeconds: Number(seconds.toFixed(1)),
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      note: 'V8 heap after full GC (strings, maps, session objects, push endpoints, last reports); excludes fixed costs measured before',
    };
    await writeFile(
      path.join(root, 'bench/results/session-memory.json'),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    console.log(
      `session-memory devices=${devices} bytesPerDevice=${bytesPerDevice} cached=${cached}`,
    );
  } finally {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
