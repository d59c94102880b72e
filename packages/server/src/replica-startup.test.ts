import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase } from './db/create-database.js';
import { migrateToLatest } from './db/migrate.js';
import { type ReplicaSet, startReplicas } from './testing/replicas.js';
import { postgresUnavailableReason, TEST_POSTGRES_URL } from './testing/test-database.js';

const unavailable = await postgresUnavailableReason();
if (unavailable !== undefined && process.env.CI !== 'true')
  console.warn(`[updraft tests] skipping replica start-up: ${unavailable} (CI would fail here)`);

const migrationFiles = (
  await readdir(fileURLToPath(new URL('./db/migrations/', import.meta.url)))
).filter((f) => /^\d{14}-[a-z0-9-]+\.ts$/.test(f) && !f.includes('.test.'));

// Four replicas started at the same moment on an empty schema (a fresh deployment, or a rollout
// that scales from zero): every first-start step must happen exactly once.
describe.skipIf(unavailable !== undefined && process.env.CI !== 'true')(
  'replicas starting together on a fresh PostgreSQL schema',
  () => {
    let set: ReplicaSet | undefined;
    afterEach(async () => {
      await set?.close();
      set = undefined;
    });

    it('run each migration once: the first migrator applies them all, the others find none pending', async () => {
      const schema = `updraft_m_${randomBytes(6).toString('hex')}`;
      const handles = await Promise.all(
        Array.from({ length: 4 }, () =>
          createDatabase({
            kind: 'postgres',
            sqliteFile: ':memory:',
            url: TEST_POSTGRES_URL,
            schema,
            poolMax: 2,
          }),
        ),
      );
      try {
        const results = await Promise.all(handles.map((h) => migrateToLatest(h)));
        const applied = results.map((r) => r.results?.length ?? 0).sort((a, b) => b - a);
        expect(applied).toEqual([migrationFiles.length, 0, 0, 0]);
        expect(results.flatMap((r) => r.results ?? []).every((r) => r.status === 'Success')).toBe(
          true,
        );
      } finally {
        await Promise.all(handles.map((h) => h.close()));
        const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      }
    }, 60_000);

    it('migrate once and create one tenant, one admin, one CA; one replica prints the password', async () => {
      const printed: string[][] = [];
      set = await startReplicas(4, {
        together: true,
        // A generated password, shown on a "terminal": the replica that creates the admin prints it.
        overrides: { auth: { adminPassword: '' } },
        deps: (index) => {
          printed[index] = [];
          return { print: (line) => printed[index]?.push(line), printIsTerminal: true };
        },
      });
      expect(set.replicas).toHaveLength(4);
      const db = set.replicas[0]!.app.updraft.db;
      const migrations = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
      expect(migrations.rows.map((r) => `${r.name}.ts`).sort()).toEqual(migrationFiles.sort());
      const count = async (table: 'tenants' | 'users' | 'pki_tenant_cas') =>
        Number(
          (
            await db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      expect(await count('tenants')).toBe(1);
      expect(await count('users')).toBe(1);
      expect(await count('pki_tenant_cas')).toBe(1);
      const withPassword = printed.filter((lines) =>
        lines.some((l) => l.includes('one-time password')),
      );
      expect(withPassword).toHaveLength(1);
      expect(printed.flat().filter((l) => l.includes('created admin account'))).toHaveLength(1);
      // No replica logged an error while starting.
      for (const replica of set.replicas)
        expect(replica.logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);

      for (const r of set.replicas) expect((await fetch(`${r.url}/readyz`)).status).toBe(200);
    }, 60_000);
  },
);
