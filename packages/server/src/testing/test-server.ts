import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Role } from '../auth/permissions.js';
import { buildServer, type ServerDeps } from '../build-server.js';
import { loadConfig, type ServerConfig, type ServerConfigInput } from '../config/config.js';
import { issueToken } from '../features/users/token.repository.js';
import { createUser } from '../features/users/user.repository.js';
import type { UpdraftApp } from '../http/app-types.js';
import { DEFAULT_TENANT_ID, ensureTenant } from '../tenants/tenant.repository.js';
import { type Dialect, openTestDatabase, type TestDatabase } from './test-database.js';

/** The first admin's password in test servers. */
export const TEST_ADMIN_PASSWORD = 'test-admin-password-0123';

/** A built (not listening) server on a fresh database of one dialect, with helpers. */
export interface TestServer {
  readonly app: UpdraftApp;
  readonly database: TestDatabase;
  readonly config: ServerConfig;
  readonly dataDir: string;
  /** Lines the server printed (first-start credentials). */
  readonly printed: string[];
  /** Log lines pino wrote (JSON), for redaction tests. */
  readonly logs: string[];
  /** A fresh user with `roles` in `tenantId` (default tenant) and an API token for it. */
  tokenFor(roles: readonly Role[], tenantId?: string): Promise<{ token: string; userId: string }>;
  /** `{ authorization: 'Bearer …' }` for an admin of the default tenant. */
  adminHeaders(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

/**
 * Builds a server for route tests: temp data dir, silent-but-captured logs, rate limits off
 * and /metrics public (unless overridden), a known admin password.
 *
 * @example
 * const server = await createTestServer('sqlite');
 * const res = await server.app.inject({ method: 'GET', url: '/api/v1/devices', headers: await server.adminHeaders() });
 */
export async function createTestServer(
  dialect: Dialect,
  overrides: ServerConfigInput = {},
  options: Pick<
    ServerDeps,
    | 'now'
    | 'blobs'
    | 'deltaEncoder'
    | 'deltaLimits'
    | 'sessionClock'
    | 'printIsTerminal'
    | 'campaignEngine'
    | 'dashboardDir'
  > = {},
): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-server-'));
  const database = await openTestDatabase(dialect);
  const config = loadConfig({
    overrides: {
      dataDir,
      logLevel: 'info',
      ...overrides,
      database: database.config,
      rateLimit: { enabled: false, ...(overrides.rateLimit ?? {}) },
      // Tests scrape /metrics freely; the token requirement has its own test (system.routes).
      metrics: { public: true, ...(overrides.metrics ?? {}) },
      auth: { adminPassword: TEST_ADMIN_PASSWORD, ...(overrides.auth ?? {}) },
    },
  });
  const printed: string[] = [];
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(String(chunk));
      callback();
    },
  });
  let app: UpdraftApp;
  try {
    app = await buildServer(config, {
      database: database.handle,
      logStream,
      print: (line) => printed.push(line),
      ...options,
    });
  } catch (error) {
    await database.dispose();
    throw error;
  }
  let admin: Record<string, string> | undefined;
  const tokenFor = async (roles: readonly Role[], tenantId = DEFAULT_TENANT_ID) => {
    const now = new Date().toISOString();
    await ensureTenant(app.updraft.db, tenantId, tenantId, now);
    return app.updraft.db.transaction().execute(async (trx) => {
      const user = await createUser(
        trx,
        tenantId,
        { username: `u-${randomBytes(5).toString('hex')}`, passwordHash: 'x', roles },
        now,
      );
      const { token } = await issueToken(
        trx,
        tenantId,
        { userId: user.id, kind: 'api', name: 'test', expiresAt: null },
        now,
      );
      return { token, userId: user.id };
    });
  };
  return {
    app,
    database,
    config,
    dataDir,
    printed,
    logs,
    tokenFor,
    adminHeaders: async () => {
      admin ??= { authorization: `Bearer ${(await tokenFor(['admin'])).token}` };
      return admin;
    },
    close: async () => {
      await app.close();
      await database.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
