import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import type { Role } from '../auth/permissions.js';
import { buildServer, type ServerDeps } from '../build-server.js';
import { loadConfig, type ServerConfig, type ServerConfigInput } from '../config/config.js';
import { issueToken } from '../features/users/token.repository.js';
import { createUser } from '../features/users/user.repository.js';
import type { UpdraftApp } from '../http/app-types.js';
import { DEFAULT_TENANT_ID } from '../tenants/tenant.repository.js';
import { TEST_POSTGRES_URL } from './test-database.js';
import { TEST_ADMIN_PASSWORD } from './test-server.js';

/** One replica: a whole app listening on loopback, with its own data directory. */
export interface Replica {
  readonly app: UpdraftApp;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly config: ServerConfig;
  readonly dataDir: string;
  /** Log lines pino wrote (JSON). */
  readonly logs: string[];
  /** Closes the app (idempotent). */
  close(): Promise<void>;
}

/** Several replicas of the service on ONE fresh PostgreSQL schema, sharing the master key. */
export interface ReplicaSet {
  readonly replicas: Replica[];
  /** The `database` config section every replica uses (a spawned process can join with it). */
  readonly database: ServerConfig['database'];
  /** The key every replica shares (as a deployment shares `blobs.masterKeyFile`). */
  readonly masterKey: Buffer;
  /** A fresh user with `roles` and an API token, valid on every replica. */
  tokenFor(roles: readonly Role[]): Promise<{ token: string; userId: string }>;
  /** `{ authorization: 'Bearer …' }` for an admin (one token, created on first use). */
  adminHeaders(): Promise<Record<string, string>>;
  /** Builds one more replica on the same schema (e.g. to replace a closed one). */
  add(): Promise<Replica>;
  /** Closes every replica and drops the schema. */
  close(): Promise<void>;
}

/** Options of {@link startReplicas}. */
export interface ReplicaOptions {
  /** Configuration every replica gets (the database section is always the shared schema). */
  readonly overrides?: ServerConfigInput;
  /** Replaceable parts each replica gets (a function: one fresh set per replica). */
  readonly deps?: (index: number) => Omit<ServerDeps, 'database' | 'masterKey'>;
  /** Start all at once (default: the first alone, which migrates, then the others together). */
  readonly together?: boolean;
}

/**
 * Starts `count` replicas of the service on one new PostgreSQL schema (`UPDRAFT_TEST_PG_URL`),
 * each a full `buildServer` app listening on 127.0.0.1 with its own data directory, MQTT off and
 * rate limits off unless overridden. This is the production topology in one test process: state
 * one replica keeps that the others need shows up as a failing test.
 *
 * @example
 * const set = await startReplicas(2, { overrides: { blobs: { store: 's3' }, s3: { ...s3.config } } });
 * await fetch(`${set.replicas[1].url}/readyz`);
 * await set.close();
 */
export async function startReplicas(
  count: number,
  options: ReplicaOptions = {},
): Promise<ReplicaSet> {
  const schema = `updraft_r_${randomBytes(6).toString('hex')}`;
  const database: ServerConfig['database'] = {
    kind: 'postgres',
    sqliteFile: ':memory:',
    url: TEST_POSTGRES_URL,
    schema,
    poolMax: 5,
  };
  const masterKey = randomBytes(32);
  const replicas: Replica[] = [];
  const overrides = options.overrides ?? {};

  const add = async (): Promise<Replica> => {
    const index = replicas.length;
    const dataDir = await mkdtemp(path.join(os.tmpdir(), `updraft-replica${index}-`));
    const config = loadConfig({
      overrides: {
        dataDir,
        logLevel: 'info',
        ...overrides,
        database,
        rateLimit: { enabled: false, ...(overrides.rateLimit ?? {}) },
        mqtt: { mode: 'off', ...(overrides.mqtt ?? {}) },
        metrics: { public: true, ...(overrides.metrics ?? {}) },
        auth: { adminPassword: TEST_ADMIN_PASSWORD, ...(overrides.auth ?? {}) },
        host: '127.0.0.1',
        port: 0,
      },
    });
    const logs: string[] = [];
    const logStream = new Writable({
      write(chunk, _encoding, callback) {
        logs.push(String(chunk));
        callback();
      },
    });
    const app = await buildServer(config, {
      logStream,
      print: () => undefined,
      ...(options.deps?.(index) ?? {}),
      masterKey,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    let closed: Promise<void> | undefined;
    const replica: Replica = {
      app,
      url: `http://127.0.0.1:${port}`,
      config,
      dataDir,
      logs,
      close: () => {
        closed ??= (async () => {
          await app.close();
          await rm(dataDir, { recursive: true, force: true });
        })();
        return closed;
      },
    };
    replicas.push(replica);
    return replica;
  };

  const dropSchema = async () => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  };

  try {
    if (options.together) {
      await Promise.all(Array.from({ length: count }, () => add()));
    } else {
      await add();
      await Promise.all(Array.from({ length: count - 1 }, () => add()));
    }
  } catch (error) {
    await Promise.allSettled(replicas.map((r) => r.close()));
    await dropSchema().catch(() => undefined);
    throw error;
  }

  const tokenFor = async (roles: readonly Role[]) => {
    const first = replicas[0];
    if (first === undefined) throw new Error('no replica');
    const now = new Date().toISOString();
    return first.app.updraft.db.transaction().execute(async (trx) => {
      const user = await createUser(
        trx,
        DEFAULT_TENANT_ID,
        { username: `u-${randomBytes(5).toString('hex')}`, passwordHash: 'x', roles },
        now,
      );
      const { token } = await issueToken(
        trx,
        DEFAULT_TENANT_ID,
        { userId: user.id, kind: 'api', name: 'test', expiresAt: null },
        now,
      );
      return { token, userId: user.id };
    });
  };
  let admin: Record<string, string> | undefined;
  return {
    replicas,
    database,
    masterKey,
    tokenFor,
    adminHeaders: async () => {
      admin ??= { authorization: `Bearer ${(await tokenFor(['admin'])).token}` };
      return admin;
    },
    add,
    close: async () => {
      await Promise.allSettled(replicas.map((r) => r.close()));
      await dropSchema();
    },
  };
}
