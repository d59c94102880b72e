import { join } from 'node:path';
import type { RunningServer } from '@updraft/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { type RunResult, run, tempDir } from '../testing/capture-io.js';
import { startTestService } from '../testing/test-service.js';

// user, token and tenant commands against a real update service on 127.0.0.1, port 0.
const PASSWORD = 'accounts-admin-password';
let server: RunningServer;
let dir: string;
let cleanup: () => Promise<void>;

const cli = (argv: string[], options: { stdin?: string; config?: string } = {}) =>
  run(dir, [...argv, '--config', join(dir, options.config ?? 'admin.json')], options);

function ok(r: RunResult): RunResult {
  expect(r.code, r.stderr).toBe(EXIT_CODES.ok);
  return r;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  server = await startTestService({ dir, adminPassword: PASSWORD });
  ok(await cli(['login', '--server', server.url, '--password-stdin'], { stdin: `${PASSWORD}\n` }));
}, 60_000);

afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

describe('user, token and tenant commands', () => {
  it('says after login how to create an API token', async () => {
    const r = ok(
      await cli(['login', '--server', server.url, '--password-stdin'], { stdin: `${PASSWORD}\n` }),
    );
    expect(r.stdout).toContain('updraft token create <name>');
  });

  it('creates, lists, re-roles and disables a user', async () => {
    const created = ok(
      await cli(['user', 'create', 'dana', '--role', 'support', '--password-stdin', '--json'], {
        stdin: 'dana-password-0123\n',
      }),
    ).json<{ id: string; roles: string[] }>();
    expect(created.roles).toEqual(['support']);
    const list = ok(await cli(['user', 'list', '--json'])).json<{
      items: { username: string }[];
    }>();
    expect(list.items.map((u) => u.username)).toEqual(['admin', 'dana']);
    expect(ok(await cli(['user', 'list'])).stdout).toMatch(/dana\s+support/);
    const roles = ok(await cli(['user', 'roles', 'dana', 'auditor', 'support', '--json'])).json<{
      roles: string[];
    }>();
    expect(roles.roles).toEqual(['auditor', 'support']);
    // The last admin cannot lose admin: the service's refusal, exit 8.
    const last = await cli(['user', 'roles', 'admin', 'support']);
    expect(last.code).toBe(EXIT_CODES.service);
    expect(last.stderr).toMatch(/no enabled admin \(HTTP 409\) \[RESOURCE_CONFLICT\]/);
    ok(await cli(['user', 'disable', 'dana']));
    const login = await cli(['login', '--server', server.url, '-u', 'dana', '--password-stdin'], {
      stdin: 'dana-password-0123\n',
      config: 'dana.json',
    });
    expect(login.code).toBe(EXIT_CODES.service);
    expect(await cli(['user', 'disable', 'nobody'])).toMatchObject({ code: EXIT_CODES.usage });
  });

  it('resets a password, which its user must change at the next login, and changes one’s own', async () => {
    ok(
      await cli(['user', 'create', 'eli', '--role', 'support', '--password-stdin'], {
        stdin: 'eli-password-0123\n',
      }),
    );
    ok(
      await cli(['user', 'password', 'eli', '--password-stdin'], { stdin: 'eli-reset-0123456\n' }),
    );
    const login = ok(
      await cli(['login', '--server', server.url, '-u', 'eli', '--password-stdin', '--json'], {
        stdin: 'eli-reset-0123456\n',
        config: 'eli.json',
      }),
    ).json<{ passwordChangeRequired: boolean }>();
    expect(login.passwordChangeRequired).toBe(true);
    const blocked = await cli(['device', 'list'], { config: 'eli.json' });
    expect(blocked.stderr).toMatch(/\[AUTH_PASSWORD_CHANGE_REQUIRED\]/);
    const changed = ok(
      await cli(['user', 'password', '--password-stdin', '--json'], {
        stdin: 'eli-reset-0123456\neli-own-password-0123\n',
        config: 'eli.json',
      }),
    ).json<{ changed: boolean }>();
    expect(changed.changed).toBe(true);
    ok(await cli(['device', 'list'], { config: 'eli.json' }));
    const missing = await cli(['user', 'password', '--password-stdin'], {
      stdin: 'only-one-line\n',
      config: 'eli.json',
    });
    expect(missing.code).toBe(EXIT_CODES.usage);
    expect(missing.stderr).toMatch(/missing: the new password/);
  });

  it('creates an API token shown once, lists it without its secret, and revokes it', async () => {
    const created = ok(
      await cli(['token', 'create', 'ci', '--expires-in-days', '30', '--json']),
    ).json<{ token: string; info: { id: string; expiresAt: string } }>();
    expect(created.token).toMatch(/^updraft_api_/);
    ok(await cli(['class', 'list', '--server', server.url, '--token', created.token]));
    const list = ok(await cli(['token', 'list', '--json']));
    expect(list.stdout).toContain(created.info.id);
    expect(list.stdout).not.toContain(created.token);
    ok(await cli(['token', 'revoke', created.info.id]));
    const after = await cli(['class', 'list', '--server', server.url, '--token', created.token]);
    expect(after.code).toBe(EXIT_CODES.service);
    expect(after.stderr).toMatch(/\[AUTH_UNAUTHENTICATED\]/);
  });

  it('creates a tenant whose admin logs in to it by name', async () => {
    const created = ok(
      await cli(['tenant', 'create', 'acme', '--admin', 'boss', '--password-stdin'], {
        stdin: 'acme-first-password\n',
      }),
    );
    expect(created.stdout).toContain('updraft login --tenant acme --username boss');
    const tenants = ok(await cli(['tenant', 'list', '--json'])).json<{
      items: { name: string }[];
    }>();
    expect(tenants.items.map((t) => t.name).sort()).toEqual(['acme', 'default']);
    const login = ok(
      await cli(
        ['login', '--server', server.url, '--tenant', 'acme', '-u', 'boss', '--password-stdin'],
        { stdin: 'acme-first-password\n', config: 'boss.json' },
      ),
    );
    expect(login.stdout).toContain('must be changed');
    ok(
      await cli(['user', 'password', '--password-stdin'], {
        stdin: 'acme-first-password\nacme-second-password\n',
        config: 'boss.json',
      }),
    );
    const users = ok(await cli(['user', 'list', '--json'], { config: 'boss.json' })).json<{
      items: { username: string }[];
    }>();
    expect(users.items.map((u) => u.username)).toEqual(['boss']);
    const denied = await cli(['tenant', 'list'], { config: 'boss.json' });
    expect(denied.stderr).toMatch(/\[AUTH_FORBIDDEN\]/);
  });
});
