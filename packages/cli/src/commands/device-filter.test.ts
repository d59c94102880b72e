import { join } from 'node:path';
import type { RunningServer } from '@updraft/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { type RunResult, run, tempDir } from '../testing/capture-io.js';
import { startTestService } from '../testing/test-service.js';

// device count / device list --filter / group commands against a real update service on 127.0.0.1.
const PASSWORD = 'filter-admin-password';
let server: RunningServer;
let dir: string;
let cleanup: () => Promise<void>;

const cli = (argv: string[], options: { stdin?: string } = {}) =>
  run(dir, [...argv, '--config', join(dir, 'admin.json')], options);

function ok(r: RunResult): RunResult {
  expect(r.code, r.stderr).toBe(EXIT_CODES.ok);
  return r;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  server = await startTestService({ dir, adminPassword: PASSWORD });
  ok(await cli(['login', '--server', server.url, '--password-stdin'], { stdin: `${PASSWORD}\n` }));
  ok(await cli(['class', 'create', 'thermo-v2', '--vendor', 'example.com', '--model', 'thermo']));
  for (const [name, region, tag] of [
    ['th-1', 'eu', 'beta'],
    ['th-2', 'us', 'beta'],
    ['th-3', 'eu', 'stable'],
  ] as const)
    ok(
      await cli([
        'device',
        'add',
        name,
        '--class',
        'thermo-v2',
        '--attr',
        `region=${region}`,
        '--tag',
        tag,
      ]),
    );
}, 60_000);

afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

describe('target filter commands', () => {
  const EU_BETA = 'device.attributes.region == "eu" && "beta" in device.tags';

  it('counts matching devices, as a number and as {"count": N}', async () => {
    expect(ok(await cli(['device', 'count', EU_BETA])).stdout.trim()).toBe('1');
    expect(ok(await cli(['device', 'count', EU_BETA, '--json'])).json()).toEqual({ count: 1 });
    expect(
      ok(await cli(['device', 'count', 'device.class == "thermo-v2"', '--json'])).json(),
    ).toEqual({ count: 3 });
  });

  it('lists with --filter', async () => {
    const page = ok(
      await cli(['device', 'list', '--filter', 'device.attributes.region == "eu"', '--json']),
    ).json<{
      items: { name: string }[];
      total: number;
    }>();
    expect(page.items.map((d) => d.name)).toEqual(['th-1', 'th-3']);
  });

  it('reports a bad filter with its code, line and column (exit 8)', async () => {
    const r = await cli(['device', 'count', 'device.name.size() > 2']);
    expect(r.code).toBe(EXIT_CODES.service);
    expect(r.stderr).toMatch(/line 1, column 1.*\[FILTER_UNSUPPORTED\]/s);
    const syntax = await cli(['device', 'count', 'device.name == ', '--json']);
    expect(syntax.json()).toMatchObject({
      error: { code: 'FILTER_INVALID', details: { position: { offset: 15, line: 1, column: 16 } } },
    });
  });

  it('creates, lists, shows and deletes static and dynamic groups', async () => {
    const pilot = ok(
      await cli(['group', 'create', 'pilot', '--devices', 'th-1,th-3', '--json']),
    ).json<{
      kind: string;
    }>();
    expect(pilot.kind).toBe('static');
    ok(await cli(['group', 'create', 'eu', '--filter', 'device.attributes.region == "eu"']));
    expect(
      ok(await cli(['group', 'list', '--json']))
        .json<{ items: { name: string; kind: string }[] }>()
        .items.map((g) => `${g.name}:${g.kind}`),
    ).toEqual(['eu:dynamic', 'pilot:static']);
    expect(ok(await cli(['group', 'show', 'pilot'])).stdout).toContain('members th-1, th-3');
    expect(ok(await cli(['group', 'show', 'eu', '--json'])).json()).toMatchObject({
      deviceCount: 2,
      filter: 'device.attributes.region == "eu"',
    });
    expect(
      ok(
        await cli([
          'device',
          'count',
          '"pilot" in device.groups && !("beta" in device.tags)',
          '--json',
        ]),
      ).json(),
    ).toEqual({ count: 1 });
    const usage = await cli(['group', 'create', 'x', '--devices', 'th-1', '--filter', 'true']);
    expect(usage.code).toBe(EXIT_CODES.usage);
    ok(await cli(['group', 'delete', 'pilot']));
    const gone = await cli(['device', 'count', '"pilot" in device.groups']);
    expect(gone.stderr).toMatch(/no group named "pilot".*\[FILTER_INVALID\]/s);
  });
});
