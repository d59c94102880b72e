import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  PostgresDialect,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteStatement,
  sql,
} from 'kysely';
import pg from 'pg';
import type { ServerConfig } from '../config/config.js';
import type { Database } from './database.js';
import {
  type DeviceChangeFeed,
  PostgresDeviceChangeFeed,
  postgresBulkInsertTriggers,
  postgresDeviceChangeTriggers,
  postgresMqttDeviceChangeTriggers,
  postgresPkiChangeTriggers,
  SqliteDeviceChangeFeed,
} from './device-changes.js';
import type { DialectSupport } from './dialect-support.js';

/** An open database: the Kysely instance, what its backend supports, and how to close it. */
export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly support: DialectSupport;
  /** Device changes as the database announces them (start it after migrations). */
  readonly deviceChanges: DeviceChangeFeed;
  close(): Promise<void>;
}

const sqliteSupport: DialectSupport = {
  label: 'sqlite',
  supportsSkipLocked: false,
  supportsConcurrentWriters: false,
  transactionLockStatement: () => undefined,
  supportsUnloggedTables: false,
  supportsArrayParameters: false,
  migrationTableSchema: undefined,
  appendOnlyStatements: (table) => [
    `CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table} BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END`,
    `CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table} BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END`,
  ],
  // SQLite has one process: its feed installs temporary triggers on its own connection.
  deviceChangeTriggerStatements: () => [],
  bulkDeviceChangeTriggerStatements: () => [],
  mqttDeviceChangeTriggerStatements: () => [],
  pkiChangeTriggerStatements: () => [],
};

function postgresSupport(schema: string): DialectSupport {
  return {
    label: 'postgres',
    supportsSkipLocked: true,
    supportsConcurrentWriters: true,
    transactionLockStatement: (key) => `SELECT pg_advisory_xact_lock(${Math.trunc(key)})`,
    supportsUnloggedTables: true,
    supportsArrayParameters: true,
    migrationTableSchema: schema,
    appendOnlyStatements: (table) => [
      `CREATE OR REPLACE FUNCTION ${table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${table} is append-only'; END $$`,
      `CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ${table}_append_only()`,
    ],
    deviceChangeTriggerStatements: postgresDeviceChangeTriggers,
    bulkDeviceChangeTriggerStatements: postgresBulkInsertTriggers,
    mqttDeviceChangeTriggerStatements: postgresMqttDeviceChangeTriggers,
    pkiChangeTriggerStatements: postgresPkiChangeTriggers,
  };
}

/** Prepared statements kept per SQL text (hot paths repeat a handful of statements). */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Wraps a better-sqlite3 handle so each distinct SQL text is prepared once (a bounded LRU);
 * preparing is most of an indexed lookup's cost. Safe because Kysely's SQLite driver runs one
 * query at a time on its single connection, so a cached statement is never used twice at once.
 */
export function withStatementCache(
  native: SqliteDatabase,
  size = STATEMENT_CACHE_SIZE,
): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      cache.clear();
      native.close();
    },
    prepare: (text) => {
      let statement = cache.get(text);
      if (statement) {
        cache.delete(text);
      } else {
        statement = native.prepare(text);
        if (cache.size >= size) cache.delete(cache.keys().next().value as string);
      }
      cache.set(text, statement);
      return statement;
    },
  };
}

// SQL texts run often enough to keep parsed and planned on each PostgreSQL connection.
const namedStatements = new Map<string, string>();

/**
 * Marks a SQL text as hot: on PostgreSQL each pooled connection parses it once as a named
 * prepared statement and afterwards only binds and executes it (SQLite prepares every text once
 * anyway, see {@link withStatementCache}). Only for a fixed set of texts built at start-up (a
 * connection keeps every statement it prepared).
 */
export function markHotStatement(text: string): void {
  if (!namedStatements.has(text))
    namedStatements.set(
      text,
      `updraft_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`,
    );
}

type QueryFn = (...args: unknown[]) => unknown;

function useNamedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as QueryFn;
  (client as unknown as { query: QueryFn }).query = (...args) => {
    const [text, values] = args;
    const name = typeof text === 'string' ? namedStatements.get(text) : undefined;
    return name === undefined || args.length !== 2 ? query(...args) : query({ name, text, values });
  };
}

/**
 * The SQLite file (and any -wal/-shm left from a previous run) readable by its owner only: 0600
 * in a 0700 folder when created here. SQLite creates its -wal and -shm with the database file's
 * own mode, so making the file first with 0600 makes them 0600 too.
 */
function makePrivate(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  closeSync(openSync(file, 'a', 0o600));
  for (const name of [file, `${file}-wal`, `${file}-shm`]) {
    if (existsSync(name)) chmodSync(name, 0o600);
  }
}

/**
 * `CREATE SCHEMA IF NOT EXISTS` is not safe against itself: replicas starting together on a new
 * schema race, and the losers fail with a unique violation (23505) or 42P06. Losing that race is
 * fine when the schema now exists.
 */
async function createSchemaIfMissing(db: Kysely<Database>, schema: string): Promise<void> {
  try {
    await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== '23505' && code !== '42P06') throw error;
    const found = await sql<{
      n: number;
    }>`select 1 as n from pg_namespace where nspname = ${schema}`.execute(db);
    if (found.rows.length === 0) throw error;
  }
}

/** Opens the configured database (SQLite file or PostgreSQL pool). Run migrations next. */
export async function createDatabase(config: ServerConfig['database']): Promise<DatabaseHandle> {
  if (config.kind === 'sqlite') {
    if (config.sqliteFile !== ':memory:') makePrivate(config.sqliteFile);
    const native = new SQLite(config.sqliteFile);
    native.pragma('journal_mode = WAL');
    // FULL: an acknowledged write survives power loss, not only a process kill.
    native.pragma('synchronous = FULL');
    native.pragma('foreign_keys = ON');
    native.pragma('busy_timeout = 5000');
    // PostgreSQL's md5(text) → hex, so one SQL text ranks campaign targets on both dialects.
    native.function('md5', { deterministic: true }, (text: unknown) =>
      text === null ? null : createHash('md5').update(String(text)).digest('hex'),
    );
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: withStatementCache(native) }),
    });
    const deviceChanges = new SqliteDeviceChangeFeed(native);
    return {
      db,
      support: sqliteSupport,
      deviceChanges,
      close: async () => {
        await deviceChanges.close();
        await db.destroy();
      },
    };
  }
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolMax,
    options: `-c search_path=${config.schema}`,
  });
  pool.on('connect', useNamedStatements);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await createSchemaIfMissing(db, config.schema);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  const deviceChanges = new PostgresDeviceChangeFeed(config.url, config.schema, pool);
  return {
    db,
    support: postgresSupport(config.schema),
    deviceChanges,
    close: async () => {
      await deviceChanges.close();
      await db.destroy();
    },
  };
}
