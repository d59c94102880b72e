import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  type Kysely,
  type Migration,
  type MigrationProvider,
  type MigrationResultSet,
  Migrator,
} from 'kysely';
import type { DatabaseHandle } from './create-database.js';
import type { DialectSupport } from './dialect-support.js';

/** What a migration file exports. `support` lets DDL differ by capability, not by dialect name. */
export interface UpdraftMigration {
  up(db: Kysely<unknown>, support: DialectSupport): Promise<void>;
  down?(db: Kysely<unknown>, support: DialectSupport): Promise<void>;
}

const MIGRATION_FILE = /^(\d{14}-[a-z0-9-]+)\.(?:js|ts)$/;
const migrationsDir = new URL('./migrations/', import.meta.url);

/**
 * Finds every `src/db/migrations/YYYYMMDDHHMMSS-name.ts` (or its compiled `.js`) and hands it to
 * Kysely's Migrator, which orders them by name and records them in its own table.
 */
class FolderMigrationProvider implements MigrationProvider {
  constructor(private readonly support: DialectSupport) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    for (const file of (await readdir(fileURLToPath(migrationsDir))).sort()) {
      const match = MIGRATION_FILE.exec(file);
      if (!match || file.endsWith('.d.ts') || file.includes('.test.')) continue;
      const mod = (await import(new URL(file, migrationsDir).href)) as UpdraftMigration;
      const support = this.support;
      migrations[match[1] as string] = {
        up: (db) => mod.up(db, support),
        ...(mod.down
          ? { down: (db: Kysely<unknown>) => mod.down?.(db, support) ?? Promise.resolve() }
          : {}),
      };
    }
    return migrations;
  }
}

/**
 * Applies every pending migration; throws the first failure after reporting each result.
 *
 * Several replicas may call this at once: on PostgreSQL, Kysely's Migrator runs the pending
 * migrations in one transaction while holding a session advisory lock (`pg_advisory_lock`, one
 * fixed id for the whole database), and reads which migrations ran only once it holds the lock,
 * so the first replica migrates and the others wait, then find nothing to do. Its preparation
 * (creating its two tables) tolerates the same race. SQLite has a single process.
 *
 * Before taking the lock the Migrator lists every table of the DATABASE (all schemas), and
 * PostgreSQL's catalog functions fail with 3F000 ("schema … does not exist") when another schema
 * is dropped at that moment (another instance sharing the database, or parallel test runs). Only
 * that case is retried: the same error naming our own schema is real and thrown at once.
 */
export async function migrateToLatest(handle: DatabaseHandle): Promise<MigrationResultSet> {
  const schema = handle.support.migrationTableSchema;
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(handle);
    } catch (error) {
      const pgError = error as { code?: unknown; message?: unknown };
      const otherSchema =
        schema !== undefined &&
        pgError.code === '3F000' &&
        typeof pgError.message === 'string' &&
        !pgError.message.includes(schema);
      if (!otherSchema || attempt >= 5) throw error;
    }
  }
}

async function migrateOnce(handle: DatabaseHandle): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db: handle.db,
    provider: new FolderMigrationProvider(handle.support),
    ...(handle.support.migrationTableSchema
      ? { migrationTableSchema: handle.support.migrationTableSchema }
      : {}),
  });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error;
  return result;
}
