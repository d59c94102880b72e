import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { RunningServer } from '@updraft/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { type RunResult, run, tempDir } from '../testing/capture-io.js';
import { startTestService } from '../testing/test-service.js';

// `updraft ddi …` against a real update service on 127.0.0.1: gateway tokens that a hawkBit
// client then polls with, and the plug-and-play settings.
const PASSWORD = 'ddi-cli-admin-password';
let server: RunningServer;
let dir: string;
let cleanup: () => Promise<void>;

const cli = (argv: string[], options: { stdin?: string } = {}) =>
  run(dir, [...argv, '--config', join(dir, 'admin.json')], options);
function ok(r: RunResult): RunResult {
  expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.ok);
  return r;
}
const poll = (controller: string, token: string) =>
  fetch(`${server.url}/DEFAULT/controller/v1/${controller}`, {
    headers: { authorization: `GatewayToken ${token}` },
  });

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  server = await startTestService({ dir, adminPassword: PASSWORD });
  ok(await cli(['login', '--server', server.url, '--password-stdin'], { stdin: `${PASSWORD}\n` }));
  ok(await cli(['class', 'create', 'gw', '--vendor-id', randomUUID(), '--class-id', randomUUID()]));
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

describe('updraft ddi', () => {
  it('creates, lists and revokes a gateway token that a controller polls with', async () => {
    const created = ok(await cli(['ddi', 'gateway-token', 'create', 'site-a', '--json'])).stdout;
    const { token, info } = JSON.parse(created) as { token: string; info: { id: string } };
    expect(token).toMatch(/^updraft_gateway_/);
    const human = ok(await cli(['ddi', 'gateway-token', 'list'])).stdout;
    expect(human).toContain(info.id);
    expect(human).not.toContain(token);
    // Unknown controller and plug-and-play off: 404, then on (into class gw): registered.
    expect((await poll('box-1', token)).status).toBe(404);
    const settings = ok(
      await cli([
        'ddi',
        'settings',
        '--auto-register',
        'true',
        '--class',
        'gw',
        '--polling-sleep',
        '120',
        '--json',
      ]),
    ).stdout;
    expect(JSON.parse(settings)).toMatchObject({ autoRegister: true, pollingSleepSeconds: 120 });
    const res = await poll('box-1', token);
    expect(res.status).toBe(200);
    expect(
      ((await res.json()) as { config: { polling: { sleep: string } } }).config.polling.sleep,
    ).toBe('00:02:00');
    ok(await cli(['ddi', 'gateway-token', 'revoke', info.id]));
    expect((await poll('box-1', token)).status).toBe(401);
    const again = await cli(['ddi', 'gateway-token', 'revoke', info.id]);
    expect(again.code).not.toBe(EXIT_CODES.ok);
    expect(again.stderr).toContain('RESOURCE_NOT_FOUND');
  });

  it('refuses a bad polling sleep and an unknown class before calling the service', async () => {
    const bad = await cli(['ddi', 'settings', '--polling-sleep', '999999']);
    expect(bad.code).toBe(EXIT_CODES.usage);
    const unknown = await cli(['ddi', 'gateway-token', 'create', 'x', '--class', 'nope']);
    expect(unknown.code).toBe(EXIT_CODES.usage);
  });
});
