import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INITIAL_PASSWORD_FILE } from './bootstrap.js';
import { buildServer } from './build-server.js';
import { loadConfig } from './config/config.js';
import { describeEachDialect } from './testing/test-database.js';
import { createTestServer, type TestServer } from './testing/test-server.js';

const inject = (
  server: TestServer,
  method: 'GET' | 'POST',
  url: string,
  token?: string,
  payload?: Record<string, unknown>,
) =>
  server.app.inject({
    method,
    url,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(payload === undefined ? {} : { payload }),
  });

describeEachDialect('the first admin', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    // Not a terminal (a log collector): the password goes to a file, never to the output.
    server = await createTestServer(dialect, { auth: { adminPassword: '' } });
  });
  afterAll(() => server?.close());

  it('writes a generated password to a 0600 file in the data dir and prints only its path', async () => {
    const file = path.join(server.dataDir, INITIAL_PASSWORD_FILE);
    const password = (await readFile(file, 'utf8')).trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const announced = server.printed.filter((l) => l.includes('created admin account'));
    expect(announced).toHaveLength(1);
    expect(announced[0]).toContain(file);
    expect(server.printed.join('\n')).not.toContain(password);
    expect(server.logs.join('')).not.toContain(password);
  });

  it('forces a change of the generated password before anything else, then revokes other sessions', async () => {
    const password = (
      await readFile(path.join(server.dataDir, INITIAL_PASSWORD_FILE), 'utf8')
    ).trim();
    const login = await inject(server, 'POST', '/api/v1/auth/login', undefined, {
      username: 'admin',
      password,
    });
    expect(login.json().passwordChangeRequired).toBe(true);
    const first = login.json().token as string;
    const second = (
      await inject(server, 'POST', '/api/v1/auth/login', undefined, { username: 'admin', password })
    ).json().token as string;
    const blocked = await inject(server, 'GET', '/api/v1/devices', first);
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json().code).toBe('AUTH_PASSWORD_CHANGE_REQUIRED');
    expect((await inject(server, 'POST', '/api/v1/tokens', first, { name: 'x' })).statusCode).toBe(
      403,
    );
    expect((await inject(server, 'GET', '/api/v1/me', first)).json()).toMatchObject({
      username: 'admin',
      passwordChangeRequired: true,
    });
    // A wrong current password changes nothing.
    const wrong = await inject(server, 'POST', '/api/v1/me/password', first, {
      currentPassword: 'not-the-password',
      newPassword: 'a-brand-new-password',
    });
    expect(wrong.json().code).toBe('AUTH_INVALID_CREDENTIALS');
    const changed = await inject(server, 'POST', '/api/v1/me/password', first, {
      currentPassword: password,
      newPassword: 'a-brand-new-password',
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toEqual({ sessionsRevoked: 1 });
    expect((await inject(server, 'GET', '/api/v1/devices', first)).statusCode).toBe(200);
    expect((await inject(server, 'GET', '/api/v1/me', second)).statusCode).toBe(401);
    const relogin = await inject(server, 'POST', '/api/v1/auth/login', undefined, {
      username: 'admin',
      password: 'a-brand-new-password',
    });
    expect(relogin.json().passwordChangeRequired).toBe(false);
    expect(
      (
        await inject(server, 'POST', '/api/v1/auth/login', undefined, {
          username: 'admin',
          password,
        })
      ).statusCode,
    ).toBe(401);
  });
});

describe('the first admin on a terminal', () => {
  it('prints a generated password once, and never logs it', async () => {
    const first = await createTestServer(
      'sqlite',
      { auth: { adminPassword: '' } },
      {
        printIsTerminal: true,
      },
    );
    try {
      const line = first.printed.find((l) => l.includes('one-time password'));
      expect(line).toMatch(/one-time password: [A-Za-z0-9_-]{24}$/);
      const password = line?.split(': ').at(-1) ?? '';
      expect(first.printed.filter((l) => l.includes(password))).toHaveLength(1);
      expect(first.logs.join('')).not.toContain(password);
    } finally {
      await first.close();
    }
  });

  it('does not force a password the operator chose (UPDRAFT_ADMIN_PASSWORD) to change', async () => {
    const chosen = await createTestServer('sqlite');
    try {
      const login = await chosen.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'admin', password: 'test-admin-password-0123' },
      });
      expect(login.json().passwordChangeRequired).toBe(false);
      expect(chosen.printed.join('\n')).not.toContain('test-admin-password');
    } finally {
      await chosen.close();
    }
  });
});

describe('file modes', () => {
  it('keeps the data dir 0700 and the SQLite database with its -wal and -shm 0600', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-modes-'));
    const quiet = new Writable({ write: (_c, _e, cb) => cb() });
    const app = await buildServer(
      loadConfig({
        overrides: {
          dataDir,
          logLevel: 'silent',
          auth: { adminPassword: 'file-modes-password' },
        },
      }),
      { logStream: quiet, print: () => {} },
    );
    try {
      // A write so the WAL and shared-memory files exist.
      await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'admin', password: 'file-modes-password' },
      });
      const mode = async (name: string) => (await stat(path.join(dataDir, name))).mode & 0o777;
      expect(await mode('.')).toBe(0o700);
      expect(await mode('updraft.db')).toBe(0o600);
      expect(await mode('updraft.db-wal')).toBe(0o600);
      expect(await mode('updraft.db-shm')).toBe(0o600);
      expect(await mode('master.key')).toBe(0o600);
    } finally {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
