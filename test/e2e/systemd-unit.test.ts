import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// deploy/systemd/updraft.service, as docs/deployment.md tells operators to install it: systemd
// itself accepts the unit, and its ExecStart (pointed at this checkout) with its Environment
// starts the service, which fails /readyz first on the unit's KillSignal (the drain the balancer
// sees), then stops cleanly well within TimeoutStopSec.

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const unitFile = join(root, 'deploy/systemd/updraft.service');
const analyzer = '/usr/bin/systemd-analyze';
const present = existsSync(analyzer);
if (!present && process.env.CI !== 'true') {
  console.warn(`[updraft tests] skipping the systemd unit check: ${analyzer} is missing`);
}

/** `Key=value` lines of the unit (a key may repeat, e.g. Environment). */
function directives(unit: string): [string, string][] {
  return unit
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('['))
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at), line.slice(at + 1)] as [string, string];
    });
}

describe('the systemd unit', () => {
  let unit: [string, string][];
  let dataDir: string;
  beforeAll(async () => {
    unit = directives(await readFile(unitFile, 'utf8'));
    dataDir = await mkdtemp(join(tmpdir(), 'updraft-systemd-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));
  const value = (key: string) => unit.find(([k]) => k === key)?.[1];

  (present || process.env.CI === 'true' ? it : it.skip)(
    'passes systemd-analyze verify',
    async () => {
      const { stderr } = await run(analyzer, ['verify', unitFile]);
      expect(stderr).toBe('');
    },
  );

  it('starts with its ExecStart and Environment, and stops on its KillSignal within TimeoutStopSec', async () => {
    const [node, entry, ...args] = (value('ExecStart') ?? '').split(' ');
    expect(node).toBe('/usr/bin/node');
    expect(entry).toBe('/opt/updraft/packages/cli/dist/bin.js');
    const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
    for (const [key, assignment] of unit) {
      if (key !== 'Environment') continue;
      const at = assignment.indexOf('=');
      env[assignment.slice(0, at)] = assignment.slice(at + 1);
    }
    // The unit's own settings, except where this test must differ from a real host.
    Object.assign(env, {
      UPDRAFT_DATA_DIR: dataDir,
      UPDRAFT_HOST: '127.0.0.1',
      UPDRAFT_PORT: '0',
      UPDRAFT_MQTT_PORT: '0',
      UPDRAFT_ADMIN_PASSWORD: 'systemd-unit-test-password',
    });
    const child = spawn(
      process.execPath,
      [join(root, entry!.replace('/opt/updraft/', '')), ...args],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (c) => {
      out += String(c);
    });
    child.stderr.on('data', (c) => {
      out += String(c);
    });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line:\n${out}`)), 60_000);
      child.stdout.on('data', () => {
        const match = /listening on (http\S+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(match[1] as string);
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    const stopBudgetMs = Number(value('TimeoutStopSec')) * 1000;
    const started = Date.now();
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill(value('KillSignal') as NodeJS.Signals);
    // The unit's drain: the balancer's health check fails at once while requests are still served.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const draining = await fetch(`${url}/readyz`);
    expect(draining.status).toBe(503);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const code = await exited;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(stopBudgetMs);
    // The stop budget covers the drain and the request timeout the unit sets.
    expect(stopBudgetMs).toBeGreaterThan(
      Number(env.UPDRAFT_SHUTDOWN_DRAIN_MS) + Number(env.UPDRAFT_SHUTDOWN_TIMEOUT_MS),
    );
  }, 90_000);
});
