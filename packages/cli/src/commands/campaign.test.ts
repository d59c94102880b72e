import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createEnvelope, createKeySigner, importPem, signEnvelope } from '@updraft/core';
import type { RunningServer } from '@updraft/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { type RunResult, run, tempDir } from '../testing/capture-io.js';
import { type AdminApi, adminApi, startTestService } from '../testing/test-service.js';

// `updraft campaign …` against a real update service (engine included, tick 1 s) on 127.0.0.1:
// the admin creates and runs campaigns, `alice` (role approver) reviews them. The devices never
// check in here: targets stay pending (the rollouts with simulated devices: test/e2e).

const PASSWORD = 'campaign-cli-admin-password';
const vendorId = randomUUID();
const classId = randomUUID();
let server: RunningServer;
let dir: string;
let cleanup: () => Promise<void>;
let releaseId: string;
let admin: AdminApi;

const cli = (argv: string[], options: { stdin?: string; config?: string } = {}) =>
  run(dir, [...argv, '--config', join(dir, options.config ?? 'admin.json')], options);
const asAlice = (argv: string[]) => cli(argv, { config: 'alice.json' });

function ok(r: RunResult): RunResult {
  expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.ok);
  return r;
}

const api = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) =>
  admin.call<T>(method, path, body);

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  server = await startTestService({
    dir,
    adminPassword: PASSWORD,
    overrides: { campaigns: { tickSeconds: 1 } },
  });
  ok(await cli(['login', '--server', server.url, '--password-stdin'], { stdin: `${PASSWORD}\n` }));
  admin = await adminApi(server, PASSWORD);
  ok(
    await cli(['user', 'create', 'alice', '--role', 'approver', '--password-stdin'], {
      stdin: 'alice-password-0123\n',
    }),
  );
  ok(
    await cli(['login', '--server', server.url, '-u', 'alice', '--password-stdin'], {
      stdin: 'alice-password-0123\n',
      config: 'alice.json',
    }),
  );
  ok(await run(dir, ['keys', 'generate', '--alg', 'ed25519', '--out', 'release']));
  ok(await cli(['class', 'create', 'thermo', '--vendor-id', vendorId, '--class-id', classId]));
  ok(await cli(['class', 'add-key', 'thermo', 'release.pub']));
  const image = Buffer.from('campaign test image');
  const envelope = await signEnvelope(
    createEnvelope({
      vendorId,
      classId,
      sequenceNumber: 2,
      components: [
        {
          id: '814100',
          digest: new Uint8Array(createHash('sha256').update(image).digest()),
          size: image.length,
          uri: 'https://fw.example/1.1.0.bin',
        },
      ],
    }),
    createKeySigner(importPem(await readFile(join(dir, 'release.key')))),
  );
  const { items } = await api<{ items: { id: string }[] }>('GET', '/api/v1/device-classes');
  releaseId = (
    await api<{ id: string }>('POST', '/api/v1/releases', {
      deviceClassId: items[0]!.id,
      version: '1.1.0',
      envelope: Buffer.from(envelope).toString('base64'),
      payloads: [{ data: image.toString('base64') }],
    })
  ).id;
}, 60_000);

let deviceNumber = 0;
/** Registers `n` devices in `region`: each test's campaigns target devices of their own. */
async function devicesIn(region: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    deviceNumber += 1;
    ok(
      await cli([
        'device',
        'add',
        `th-${deviceNumber}`,
        '--class',
        'thermo',
        '--attr',
        `region=${region}`,
      ]),
    );
  }
}

afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

interface Campaign {
  id: string;
  state: string;
  stateReason: string | null;
  review: { decision: string; comment: string | null } | null;
  [key: string]: unknown;
}

async function draft(name: string, extra: string[] = [], region = 'eu'): Promise<Campaign> {
  return ok(
    await cli([
      'campaign',
      'create',
      '--name',
      name,
      '--release',
      releaseId,
      '--filter',
      `device.attributes.region == "${region}"`,
      ...extra,
      '--json',
    ]),
  ).json<Campaign>();
}

describe('campaign commands against the service', () => {
  it('creates a draft with every flag; the service keeps exactly what the flags say', async () => {
    const created = await draft('every flag', [
      '--type',
      'continuous',
      '--phase',
      '10%',
      '--phase',
      '2',
      '--phase',
      '100%',
      '--success-threshold',
      '90%',
      '--error-threshold',
      '3',
      '--soak',
      '10m',
      '--action',
      'time-forced',
      '--force-after',
      '2030-01-01T00:00:00Z',
      '--window',
      '0 2 * * 1-5',
      '--window-duration',
      '2h',
      '--window-tz',
      'Europe/Berlin',
    ]);
    expect(created).toMatchObject({ state: 'draft', currentPhase: -1 });
    const stored = await api<Campaign>('GET', `/api/v1/campaigns/${created.id}`);
    expect(stored).toMatchObject({
      name: 'every flag',
      releaseId,
      filter: 'device.attributes.region == "eu"',
      type: 'continuous',
      successThreshold: 90,
      errorThreshold: { count: 3 },
      soakSeconds: 600,
      actionType: 'time-forced',
      forceAfter: '2030-01-01T00:00:00.000Z',
      recurringWindow: { cron: '0 2 * * 1-5', durationSeconds: 7200, timeZone: 'Europe/Berlin' },
    });
    expect(
      (stored.phases as { percent: number | null; count: number | null }[]).map((p) => [
        p.percent,
        p.count,
      ]),
    ).toEqual([
      [10, null],
      [null, 2],
      [100, null],
    ]);
    // A version names the release as well.
    const byVersion = ok(
      await cli([
        'campaign',
        'create',
        '--name',
        'by version',
        '--release',
        '1.1.0',
        '--filter',
        'true',
        '--json',
      ]),
    ).json<Campaign>();
    expect(byVersion.releaseId).toBe(releaseId);
    expect(
      ok(
        await cli([
          'campaign',
          'create',
          '--name',
          'h',
          '--release',
          releaseId,
          '--filter',
          'true',
        ]),
      ).stdout,
    ).toMatch(/^created campaign cmp_\S+ "h": draft\n/);
  });

  it('refuses bad flags before sending, and shows what the service refuses (filter, cron)', async () => {
    const before = (await api<{ items: unknown[] }>('GET', '/api/v1/campaigns?limit=100')).items
      .length;
    const usage = await cli([
      'campaign',
      'create',
      '--name',
      'bad',
      '--release',
      releaseId,
      '--filter',
      'true',
      '--error-threshold',
      '0',
    ]);
    expect(usage.code).toBe(EXIT_CODES.usage);
    const filter = await cli([
      'campaign',
      'create',
      '--name',
      'bad',
      '--release',
      releaseId,
      '--filter',
      'device.name ==',
    ]);
    expect(filter.code).toBe(EXIT_CODES.service);
    expect(filter.stderr).toMatch(/\[FILTER_INVALID\]/);
    const cron = await cli([
      'campaign',
      'create',
      '--name',
      'bad',
      '--release',
      releaseId,
      '--filter',
      'true',
      '--window',
      '99 * * * *',
      '--window-duration',
      '1h',
      '--json',
    ]);
    expect(cron.code).toBe(EXIT_CODES.service);
    expect(cron.json()).toMatchObject({ error: { details: { status: expect.any(Number) } } });
    const after = (await api<{ items: unknown[] }>('GET', '/api/v1/campaigns?limit=100')).items
      .length;
    expect(after).toBe(before);
  });

  it('reviews, starts, pauses, resumes and finishes a campaign; lists by state; status --json', async () => {
    await devicesIn('lifecycle', 2);
    const c = await draft('lifecycle', ['--phase', '50%', '--phase', '100%'], 'lifecycle');
    const self = await cli(['campaign', 'start', c.id, '--json']);
    expect(self.json()).toMatchObject({ error: { code: 'CAMPAIGN_APPROVAL_REQUIRED' } });
    const noComment = await asAlice(['campaign', 'reject', c.id]);
    expect(noComment.code).toBe(EXIT_CODES.usage);
    const rejected = ok(
      await asAlice(['campaign', 'reject', c.id, '--comment', 'too fast', '--json']),
    ).json<Campaign>();
    expect(rejected).toMatchObject({
      state: 'draft',
      review: { decision: 'rejected', comment: 'too fast' },
    });
    ok(await asAlice(['campaign', 'approve', c.id, '--comment', 'fine']));
    expect(ok(await cli(['campaign', 'start', c.id, '--json'])).json<Campaign>().state).toBe(
      'running',
    );
    // Both devices become targets; 50 % of them enter the first phase and get an action.
    await expect
      .poll(async () => {
        const s = ok(await cli(['campaign', 'status', c.id, '--json'])).json<{
          totals: Record<string, number>;
        }>();
        return s.totals;
      })
      .toMatchObject({ targets: 2, pending: 1, scheduled: 1 });
    const status = ok(await cli(['campaign', 'status', c.id, '--json'])).json();
    expect(status).toMatchObject({
      id: c.id,
      state: 'running',
      currentPhase: 0,
      phases: [
        { index: 0, state: 'running', counts: expect.objectContaining({ targets: 1, pending: 1 }) },
        { index: 1, state: 'pending' },
      ],
      failureReasons: [],
    });
    for (const key of [
      'targets',
      'scheduled',
      'pending',
      'downloading',
      'installing',
      'confirming',
      'succeeded',
      'failed',
      'rejected',
      'cancelled',
      'skipped',
    ]) {
      expect(status.totals, key).toHaveProperty(key);
    }
    const human = ok(await cli(['campaign', 'status', c.id])).stdout;
    expect(human).toMatch(/campaign cmp_\S+: running, phase 1 of 2/);
    expect(human).toMatch(/\ntotal\s+2\s+1\s+1\s/);

    const paused = ok(await cli(['campaign', 'pause', c.id, '--json'])).json<Campaign>();
    expect(paused).toMatchObject({ state: 'paused', stateReason: 'operator' });
    const list = ok(await cli(['campaign', 'list', '--state', 'paused', '--json'])).json<{
      items: Campaign[];
    }>();
    expect(list.items.map((x) => x.id)).toEqual([c.id]);
    expect(ok(await cli(['campaign', 'list'])).stdout).toMatch(
      new RegExp(`${c.id}\\s+lifecycle\\s+paused \\(operator\\)\\s+one-shot\\s+50%,100%`),
    );
    expect(ok(await cli(['campaign', 'resume', c.id, '--json'])).json<Campaign>().state).toBe(
      'running',
    );
    const finished = ok(await cli(['campaign', 'finish', c.id, '--json'])).json<Campaign>();
    expect(finished).toMatchObject({ state: 'finished', stateReason: 'operator' });
    const again = await cli(['campaign', 'pause', c.id]);
    expect(again.code).toBe(EXIT_CODES.service);
    expect(again.stderr).toMatch(/\(HTTP 409\) \[CAMPAIGN_STATE_INVALID\]/);
  });

  it('cancels a running campaign: its open actions are asked to cancel', async () => {
    await devicesIn('cancel', 2);
    const c = await draft('to cancel', [], 'cancel');
    ok(await asAlice(['campaign', 'approve', c.id]));
    ok(await cli(['campaign', 'start', c.id]));
    await expect
      .poll(async () => ok(await cli(['campaign', 'status', c.id, '--json'])).json())
      .toMatchObject({ totals: { pending: 2 } });
    expect(ok(await cli(['campaign', 'cancel', c.id, '--json'])).json<Campaign>().state).toBe(
      'cancelled',
    );
    // The actions are asked to cancel; the devices (never checking in here) are told later.
    const { items } = await api<{ items: { actionId: string | null }[] }>(
      'GET',
      `/api/v1/campaigns/${c.id}/targets`,
    );
    for (const t of items) {
      const action = await api<{ cancelRequested: boolean }>(
        'GET',
        `/api/v1/actions/${t.actionId}`,
      );
      expect(action.cancelRequested).toBe(true);
    }
  });

  it('watch exits 0 once the campaign is finished', async () => {
    await devicesIn('watch', 2);
    const c = await draft('watched', [], 'watch');
    ok(await asAlice(['campaign', 'approve', c.id]));
    ok(await cli(['campaign', 'start', c.id]));
    const watching = cli(['campaign', 'watch', c.id, '--json']);
    await expect
      .poll(async () => ok(await cli(['campaign', 'status', c.id, '--json'])).json())
      .toMatchObject({ totals: { pending: 2 } });
    ok(await cli(['campaign', 'finish', c.id]));
    const watched = await watching;
    expect(watched.code, watched.stderr).toBe(EXIT_CODES.ok);
    const events = watched.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; data: Record<string, unknown> });
    expect(events.filter((e) => e.event === 'state_changed').map((e) => e.data.to)).toEqual([
      'approved',
      'running',
      'finished',
    ]);
    expect(events.some((e) => e.event === 'progress')).toBe(true);
    // Already finished: the replayed log ends it at once.
    const replay = ok(await cli(['campaign', 'watch', c.id]));
    expect(replay.stdout).toContain('state running → finished (operator)');
    expect(replay.stdout).toContain(`campaign ${c.id}: finished (operator)`);
  });

  it('reads and changes the approval setting', async () => {
    expect(ok(await cli(['campaign', 'settings', '--json'])).json()).toEqual({
      approvalRequired: true,
    });
    ok(await cli(['campaign', 'settings', '--approval-required', 'false']));
    // A device of its own: a campaign without targets finishes at the engine's next tick,
    // which could come before the cancel below.
    await devicesIn('approval', 1);
    const c = await draft('no approval', [], 'approval');
    expect(ok(await cli(['campaign', 'start', c.id, '--json'])).json<Campaign>().state).toBe(
      'running',
    );
    ok(await cli(['campaign', 'cancel', c.id]));
    ok(await cli(['campaign', 'settings', '--approval-required', 'true']));
  });
});
