import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { UpdraftApp } from '../../packages/server/src/http/app-types.js';
import { buildServer, loadConfig, type ServerConfig } from '../../packages/server/src/index.js';
import {
  type Fleet,
  seedFleet,
  uploadRelease,
} from '../../packages/server/src/testing/release-fixtures.js';
import {
  describeEachDialect,
  TEST_POSTGRES_URL,
} from '../../packages/server/src/testing/test-database.js';
import {
  createTestServer,
  type TestServer,
} from '../../packages/server/src/testing/test-server.js';

// docs/deployment.md, "Backup and restore": the two scripts it documents (deploy/backup/) back up
// a RUNNING installation and restore it into a fresh one, which then serves the same releases to
// the same devices: the release list, every signed envelope and every payload's bytes are equal,
// and a device's credential from before the backup still works.

const run = promisify(execFile);
const scripts = fileURLToPath(new URL('../../deploy/backup/', import.meta.url));
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** The UPDRAFT_* variables the service would run with (the scripts read the same ones). */
function envOf(dataDir: string, database: ServerConfig['database']): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    UPDRAFT_DATA_DIR: dataDir,
    UPDRAFT_DATABASE_KIND: database.kind,
    ...(database.kind === 'sqlite'
      ? { UPDRAFT_DATABASE_SQLITE_FILE: database.sqliteFile }
      : { UPDRAFT_DATABASE_URL: database.url, UPDRAFT_DATABASE_SCHEMA: database.schema }),
  };
}

describeEachDialect('backup of a running installation, restored into a fresh one', (dialect) => {
  let original: TestServer;
  let restored: UpdraftApp | undefined;
  let fleet: Fleet;
  let admin: Record<string, string>;
  let work: string;
  let restoreDb: string | undefined;
  const payloads = [randomBytes(3 * 1024 * 1024 + 11), randomBytes(70_000)];

  const pgAdmin = async (sql: string) => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'updraft-backup-'));
    original = await createTestServer(dialect);
    admin = { ...(await original.adminHeaders()), 'content-type': 'application/json' };
    fleet = await seedFleet(original.app.updraft.db, { deviceCount: 2 });
    await uploadRelease(original.app, admin, fleet, 1, [payloads[0] as Buffer], '1.0.0');
    await uploadRelease(original.app, admin, fleet, 2, payloads, '2.0.0');
  }, 60_000);

  afterAll(async () => {
    await restored?.close();
    await original?.close();
    if (restoreDb !== undefined) await pgAdmin(`DROP DATABASE IF EXISTS "${restoreDb}"`);
    await rm(work, { recursive: true, force: true });
  });

  it('backs up while the service runs, restores into a fresh instance that serves the same releases', async () => {
    const backup = join(work, 'backup');
    await run(join(scripts, 'updraft-backup'), [backup], {
      env: envOf(original.dataDir, original.config.database),
    });
    expect((await readdir(backup)).sort()).toEqual(
      [
        'BACKUP-INFO',
        'blobs',
        'master.key',
        dialect === 'sqlite' ? 'updraft.db' : 'updraft.pgdump',
      ].sort(),
    );

    // A fresh installation: a new data directory, and for PostgreSQL a new, empty database.
    const freshDir = join(work, 'fresh');
    let database: ServerConfig['database'];
    if (dialect === 'postgres') {
      restoreDb = `updraft_restore_${randomBytes(5).toString('hex')}`;
      await pgAdmin(`CREATE DATABASE "${restoreDb}"`);
      const url = new URL(TEST_POSTGRES_URL);
      url.pathname = `/${restoreDb}`;
      database = { ...original.config.database, url: url.href };
    } else {
      database = { ...original.config.database, sqliteFile: join(freshDir, 'updraft.db') };
    }
    await run(join(scripts, 'updraft-restore'), [backup], { env: envOf(freshDir, database) });

    restored = await buildServer(
      loadConfig({
        overrides: {
          dataDir: freshDir,
          database,
          logLevel: 'silent',
          rateLimit: { enabled: false },
          mqtt: { mode: 'off' },
        },
      }),
      { print: () => undefined },
    );

    // The same releases, listed the same way, with byte-identical signed envelopes.
    const list = async (app: UpdraftApp) => {
      const res = await app.inject({ method: 'GET', url: '/api/v1/releases', headers: admin });
      expect(res.statusCode).toBe(200);
      return res.json().items as { id: string }[];
    };
    const before = await list(original.app);
    expect(before).toHaveLength(2);
    expect(await list(restored)).toEqual(before);
    for (const { id } of before) {
      const envelope = async (app: UpdraftApp) =>
        (
          await app.inject({
            method: 'GET',
            url: `/api/v1/releases/${id}/envelope`,
            headers: admin,
          })
        ).rawPayload;
      expect(sha256(await envelope(restored))).toBe(sha256(await envelope(original.app)));
    }

    // A device enrolled before the backup gets its update from the restored instance: the
    // payloads decrypt (the master key came along) and are the bytes that were uploaded.
    const device = fleet.devices[0]!;
    const assigned = await restored.inject({
      method: 'POST',
      url: '/api/v1/actions',
      headers: admin,
      payload: { deviceId: device.id, releaseId: before.find((r) => r !== undefined)!.id },
    });
    expect(assigned.statusCode).toBe(201);
    const checkIn = await restored.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
      payload: {},
    });
    expect(checkIn.statusCode).toBe(200);
    const offered = checkIn.json().action.payloads as { digest: string; url: string }[];
    expect(offered.length).toBeGreaterThan(0);
    for (const payload of offered) {
      const res = await restored.inject({ method: 'GET', url: payload.url });
      expect(res.statusCode).toBe(200);
      expect(sha256(res.rawPayload)).toBe(payload.digest);
      expect(payloads.map(sha256)).toContain(payload.digest);
    }
  }, 120_000);

  it('refuses to restore over an existing installation, and writes nothing', async () => {
    const backup = join(work, 'backup');
    const env = envOf(original.dataDir, original.config.database);
    const refused = await run(join(scripts, 'updraft-restore'), [backup], { env }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(refused?.code).toBe(2);
    expect(refused?.stderr).toMatch(/exists|not empty|fresh/);
    // The original still serves its releases.
    const res = await original.app.inject({
      method: 'GET',
      url: '/api/v1/releases',
      headers: admin,
    });
    expect(res.json().items).toHaveLength(2);
  });
});
