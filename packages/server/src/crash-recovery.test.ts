import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type SpawnedServer, spawnServer } from './testing/spawn-server.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from './testing/test-database.js';

const PASSWORD = 'crash-test-password-42';

describeEachDialect('kill -9 during a burst of management changes', (dialect) => {
  let database: TestDatabase;
  let dataDir: string;
  let env: Record<string, string>;
  const running: SpawnedServer[] = [];
  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-crash-'));
    const db = database.config;
    env = {
      UPDRAFT_DATA_DIR: dataDir,
      UPDRAFT_ADMIN_PASSWORD: PASSWORD,
      UPDRAFT_RATE_LIMIT_ENABLED: 'false',
      UPDRAFT_DATABASE_KIND: db.kind,
      ...(db.kind === 'sqlite'
        ? { UPDRAFT_DATABASE_SQLITE_FILE: db.sqliteFile }
        : { UPDRAFT_DATABASE_URL: db.url, UPDRAFT_DATABASE_SCHEMA: db.schema }),
    };
  });
  afterAll(async () => {
    for (const server of running) await server.kill('SIGKILL');
    await database?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged change, with its audit entry, and nothing half-written', async () => {
    const first = await spawnServer(env);
    running.push(first);
    const login = await fetch(`${first.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    const headers = {
      'content-type': 'application/json',
      authorization: `Bearer ${((await login.json()) as { token: string }).token}`,
    };
    const cls = await fetch(`${first.url}/api/v1/device-classes`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'crash', vendorName: 'example.com', modelName: 'crash' }),
    });
    const classId = ((await cls.json()) as { id: string }).id;

    const acknowledged: string[] = [];
    let stop = false;
    // The kill lands once 40 registrations were acknowledged (an event, not a poll); should the
    // workers all stop first, the test fails at once with the server's output.
    let fortieth: () => void = () => {};
    const reached = new Promise<void>((resolve) => {
      fortieth = resolve;
    });
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const res = await fetch(`${first.url}/api/v1/devices`, {
            method: 'POST',
            headers,
            body: JSON.stringify({
              name: `w${w}-${i}`,
              deviceClassId: classId,
              attributes: { w, i },
              tags: [`w${w}`],
            }),
          });
          if (res.status !== 201) throw new Error(`registration answered ${res.status}`);
          acknowledged.push(((await res.json()) as { device: { id: string } }).device.id);
          if (acknowledged.length === 40) fortieth();
        } catch (error) {
          if (!stop && acknowledged.length < 40) throw error;
          return; // connection died with the server
        }
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    await Promise.race([
      reached,
      Promise.all(workers).then(() => {
        throw new Error(`the burst ended after ${acknowledged.length} devices:\n${first.output()}`);
      }),
    ]);
    const killed = await first.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    expect(killed.signal).toBe('SIGKILL');

    const second = await spawnServer(env);
    running.push(second);
    expect(second.output()).not.toContain('one-time password');
    const { db } = database.handle;
    const devices = await db.selectFrom('devices').select(['id']).execute();
    const ids = new Set(devices.map((d) => d.id));
    expect(acknowledged.filter((id) => !ids.has(id))).toEqual([]);
    // Every device is whole: one token, its attributes and tag, and one audit entry.
    const tokens = await db.selectFrom('device_tokens').select('device_id').execute();
    expect(tokens.map((t) => t.device_id).sort()).toEqual([...ids].sort());
    const attributes = await db.selectFrom('device_attributes').select('device_id').execute();
    expect(attributes.length).toBe(ids.size * 2);
    expect(attributes.every((a) => ids.has(a.device_id))).toBe(true);
    expect((await db.selectFrom('device_tags').select('device_id').execute()).length).toBe(
      ids.size,
    );
    const audits = await db
      .selectFrom('audit_log')
      .select('resource_id')
      .where('action', '=', 'device.register')
      .execute();
    expect(audits.map((a) => a.resource_id).sort()).toEqual([...ids].sort());

    // The restarted server serves them, and shuts down gracefully on SIGTERM.
    const res = await fetch(`${second.url}/api/v1/devices?limit=1`, {
      headers: { authorization: headers.authorization },
    });
    expect(((await res.json()) as { total: number }).total).toBe(ids.size);
    expect(await second.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    // Two process starts (tsx transpiles on the fly): slow on a loaded machine.
  }, 150_000);
});
