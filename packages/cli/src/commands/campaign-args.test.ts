import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { run, tempDir } from '../testing/capture-io.js';

// `updraft campaign …` command lines against a recording stand-in for the service: what each
// flag becomes in the request, which values are refused before anything is sent, and how `watch`
// follows an event stream that drops (Last-Event-ID). The real service: campaign.test.ts.

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: unknown;
}

const received: Received[] = [];
/** Answers of the stand-in, by "METHOD path" (first match of the start of the path). */
let handler: (req: Received, res: http.ServerResponse) => void = () => {};
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    const r: Received = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: text === '' ? undefined : JSON.parse(text),
    };
    received.push(r);
    handler(r, res);
  });
});
let base = '';
let dir = '';
let cleanup: () => Promise<void>;

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ({ dir, cleanup } = await tempDir());
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await cleanup();
});
afterEach(() => {
  received.length = 0;
});

const cli = (argv: string[], options: { tty?: boolean } = {}) =>
  run(dir, [...argv, '--server', base, '--token', 'test-token'], options);

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const campaignOf = (body: Record<string, unknown>) => ({
  id: 'cmp_1',
  state: 'draft',
  stateReason: null,
  type: 'one-shot',
  actionType: 'soft',
  forceAfter: null,
  recurringWindow: null,
  successThreshold: 95,
  errorThreshold: { percent: 10 },
  soakSeconds: 0,
  currentPhase: -1,
  phases: [],
  startAt: null,
  review: null,
  createdBy: 'usr_1',
  createdAt: '2026-12-03T10:00:00.000Z',
  ...body,
});

describe('campaign create', () => {
  it('maps every flag to the JSON the service takes', async () => {
    handler = (req, res) => json(res, 201, campaignOf(req.body as Record<string, unknown>));
    const r = await cli([
      'campaign',
      'create',
      '--name',
      'thermo 1.1 EU',
      '--release',
      'rel_abc',
      '--filter',
      'device.attributes.region == "eu"',
      '--type',
      'continuous',
      '--phase',
      '10%',
      '--phase',
      '25',
      '--phase',
      '100%',
      '--success-threshold',
      '95%',
      '--error-threshold',
      '20%',
      '--soak',
      '10m',
      '--action',
      'time-forced',
      '--force-after',
      '2027-01-02T03:04:05+01:00',
      '--window',
      '0 2 * * 1-5',
      '--window-duration',
      '2h',
      '--window-tz',
      'Europe/Berlin',
      '--json',
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.ok);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'POST', url: '/api/v1/campaigns' });
    expect(received[0]!.body).toEqual({
      name: 'thermo 1.1 EU',
      releaseId: 'rel_abc',
      filter: 'device.attributes.region == "eu"',
      type: 'continuous',
      phases: [{ percent: 10 }, { count: 25 }, { percent: 100 }],
      successThreshold: 95,
      errorThreshold: { percent: 20 },
      soakSeconds: 600,
      actionType: 'time-forced',
      forceAfter: '2027-01-02T02:04:05.000Z',
      recurringWindow: { cron: '0 2 * * 1-5', durationSeconds: 7200, timeZone: 'Europe/Berlin' },
    });
    expect(r.json()).toMatchObject({ id: 'cmp_1', state: 'draft' });
  });

  it('sends only the flags given; a threshold without % and an error count', async () => {
    handler = (req, res) => json(res, 201, campaignOf(req.body as Record<string, unknown>));
    const r = await cli([
      'campaign',
      'create',
      '--name',
      'n',
      '--release',
      'rel_x',
      '--filter',
      'true',
      '--success-threshold',
      '99.5',
      '--error-threshold',
      '3',
    ]);
    expect(r.code, r.stderr).toBe(EXIT_CODES.ok);
    expect(received[0]!.body).toEqual({
      name: 'n',
      releaseId: 'rel_x',
      filter: 'true',
      successThreshold: 99.5,
      errorThreshold: { count: 3 },
    });
    expect(r.stdout).toMatch(/^created campaign cmp_1 "n": draft/);
  });

  const base = ['campaign', 'create', '--name', 'n', '--release', 'rel_x', '--filter', 'true'];
  it.each([
    [['--phase', '0%'], /--phase/],
    [['--phase', '101%'], /--phase/],
    [['--phase', '0'], /--phase/],
    [['--phase', '10.5'], /--phase/],
    [['--phase', 'ten'], /--phase/],
    [['--phase', '50%', '--phase', '10%'], /cumulative/],
    [Array.from({ length: 21 }, () => ['--phase', '100%']).flat(), /at most 20/],
    [['--success-threshold', '101%'], /--success-threshold/],
    [['--success-threshold', '-5'], /--success-threshold/],
    [['--error-threshold', '0'], /--error-threshold/],
    [['--error-threshold', '120%'], /--error-threshold/],
    [['--error-threshold', '2.5'], /--error-threshold/],
    [['--soak', '10 minutes'], /--soak/],
    [['--soak', '31d'], /--soak is at most 30 days/],
    [['--action', 'later'], /--action/],
    [['--type', 'forever'], /--type/],
    [['--action', 'time-forced'], /needs --force-after/],
    [['--force-after', '2027-01-01T00:00:00Z'], /needs --force-after/],
    [['--action', 'time-forced', '--force-after', 'tomorrow'], /--force-after must be an ISO/],
    [['--window', '0 2 * * *'], /needs --window-duration/],
    [['--window-duration', '2h'], /go with --window/],
    [['--window', '0 2 * * *', '--window-duration', '2 hours'], /--window-duration/],
    [['--name', 'x'.repeat(129)], /--name is 1 to 128/],
  ])('refuses %j with a usage error and sends nothing', async (extra, message) => {
    const r = await cli([...base, ...extra]);
    expect(r.code, r.stderr).toBe(EXIT_CODES.usage);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/\[CLI_USAGE\]\n$/);
    expect(received).toEqual([]);
    const asJson = await cli([...base, ...extra, '--json']);
    expect(asJson.json()).toMatchObject({ error: { code: 'CLI_USAGE', exitCode: 2 } });
  });

  it('needs --name, --release and --filter', async () => {
    for (const missing of ['--name', '--release', '--filter']) {
      const argv = [...base];
      argv.splice(argv.indexOf(missing), 2);
      const r = await cli(argv);
      expect(r.code).toBe(EXIT_CODES.usage);
      expect(r.stderr).toContain(missing);
    }
    expect(received).toEqual([]);
  });

  it("shows the service's refusal (a bad filter) with its code, exit 8", async () => {
    handler = (_req, res) => {
      res.writeHead(400, { 'content-type': 'application/problem+json' });
      res.end(
        JSON.stringify({
          code: 'FILTER_INVALID',
          detail: 'unexpected end of expression',
          position: { offset: 3, line: 1, column: 4 },
        }),
      );
    };
    const r = await cli([...base.slice(0, -1), 'a ==']);
    expect(r.code).toBe(EXIT_CODES.service);
    expect(r.stderr).toMatch(/unexpected end of expression \(HTTP 400\) \[FILTER_INVALID\]/);
  });
});

describe('campaign operations', () => {
  it.each([
    [['approve', 'cmp_1'], 'approve', {}],
    [['approve', 'cmp_1', '--comment', 'looks good'], 'approve', { comment: 'looks good' }],
    [['reject', 'cmp_1', '--comment', 'wrong filter'], 'reject', { comment: 'wrong filter' }],
    [['start', 'cmp_1'], 'start', {}],
    [
      ['start', 'cmp_1', '--at', '2027-03-01T02:00:00Z'],
      'start',
      { at: '2027-03-01T02:00:00.000Z' },
    ],
    [['pause', 'cmp_1'], 'pause', {}],
    [['resume', 'cmp_1'], 'resume', {}],
    [['cancel', 'cmp_1'], 'cancel', {}],
    [['finish', 'cmp_1'], 'finish', {}],
  ])('campaign %j posts to …/%s', async (argv, op, body) => {
    handler = (_req, res) => json(res, 200, campaignOf({ state: 'running' }));
    const r = await cli(['campaign', ...argv, '--json']);
    expect(r.code, r.stderr).toBe(EXIT_CODES.ok);
    expect(received).toEqual([
      expect.objectContaining({ method: 'POST', url: `/api/v1/campaigns/cmp_1/${op}`, body }),
    ]);
    expect(r.json()).toMatchObject({ id: 'cmp_1', state: 'running' });
  });

  it('reports a CAMPAIGN_CHANGED the service could not resolve, without asking again', async () => {
    handler = (_req, res) => {
      res.writeHead(409, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: 'CAMPAIGN_CHANGED', detail: 'changed meanwhile' }));
    };
    const stuck = await cli(['campaign', 'pause', 'cmp_1']);
    expect(stuck.code).toBe(EXIT_CODES.service);
    expect(stuck.stderr).toMatch(/\[CAMPAIGN_CHANGED\]/);
    expect(received).toHaveLength(1);
  });

  it('refuses a reject without --comment, a bad --at and an id that is not one', async () => {
    expect((await cli(['campaign', 'reject', 'cmp_1'])).stderr).toContain('--comment');
    expect((await cli(['campaign', 'start', 'cmp_1', '--at', 'soon'])).code).toBe(EXIT_CODES.usage);
    expect((await cli(['campaign', 'status', '../devices'])).code).toBe(EXIT_CODES.usage);
    expect(received).toEqual([]);
  });

  it('lists with --state and follows the pages', async () => {
    handler = (req, res) => {
      const url = new URL(req.url, base);
      const cursor = url.searchParams.get('cursor');
      json(res, 200, {
        items: [campaignOf({ id: cursor === null ? 'cmp_2' : 'cmp_1', name: 'n', releaseId: 'r' })],
        nextCursor: cursor === null ? 'c1' : null,
      });
    };
    const r = await cli(['campaign', 'list', '--state', 'running', '--json']);
    expect(r.code, r.stderr).toBe(EXIT_CODES.ok);
    expect(r.json<{ items: { id: string }[] }>().items.map((c) => c.id)).toEqual([
      'cmp_2',
      'cmp_1',
    ]);
    expect(received.map((q) => q.url)).toEqual([
      '/api/v1/campaigns?state=running&limit=100',
      '/api/v1/campaigns?state=running&limit=100&cursor=c1',
    ]);
    expect((await cli(['campaign', 'list', '--state', 'sleeping'])).code).toBe(EXIT_CODES.usage);
  });

  it('reads and changes the campaign settings', async () => {
    handler = (req, res) =>
      json(res, 200, {
        approvalRequired: (req.body as { approvalRequired?: boolean })?.approvalRequired ?? true,
      });
    expect((await cli(['campaign', 'settings'])).stdout).toMatch(/approval required/);
    const off = await cli(['campaign', 'settings', '--approval-required', 'false', '--json']);
    expect(off.json()).toEqual({ approvalRequired: false });
    expect(received.map((q) => [q.method, q.url, q.body])).toEqual([
      ['GET', '/api/v1/campaign-settings', undefined],
      ['PUT', '/api/v1/campaign-settings', { approvalRequired: false }],
    ]);
  });
});

const STATUS = {
  id: 'cmp_1',
  state: 'paused',
  stateReason: 'error-threshold',
  currentPhase: 0,
  phases: [
    {
      index: 0,
      state: 'paused',
      size: 4,
      counts: {
        targets: 4,
        scheduled: 0,
        pending: 0,
        downloading: 0,
        installing: 0,
        confirming: 0,
        succeeded: 2,
        failed: 2,
        rejected: 0,
        cancelled: 0,
        skipped: 0,
      },
    },
  ],
  totals: {
    targets: 40,
    scheduled: 36,
    pending: 0,
    downloading: 0,
    installing: 0,
    confirming: 0,
    succeeded: 2,
    failed: 2,
    rejected: 0,
    cancelled: 0,
    skipped: 0,
  },
  failureReasons: [{ code: 'SIM_BOOT_TRIAL_REVERTED', count: 2, devices: ['sim-7', 'sim-31'] }],
  bytesSaved: 0,
};

describe('campaign status', () => {
  it('prints a table per phase with totals and failure reasons; --json the document as is', async () => {
    handler = (_req, res) => json(res, 200, STATUS);
    const human = await cli(['campaign', 'status', 'cmp_1']);
    expect(human.code, human.stderr).toBe(EXIT_CODES.ok);
    expect(human.stdout).toContain('campaign cmp_1: paused (error-threshold), phase 1 of 1');
    expect(human.stdout).toMatch(/PHASE\s+STATE\s+SIZE\s+TARGETS\s+SCHED/);
    expect(human.stdout).toMatch(/\n1\s+paused\s+4\s+4\s+0\s+0\s+0\s+0\s+0\s+2\s+2\s/);
    expect(human.stdout).toMatch(/\ntotal\s+40\s+36\s/);
    expect(human.stdout).toContain('SIM_BOOT_TRIAL_REVERTED: 2 (e.g. sim-7, sim-31)');
    expect((await cli(['campaign', 'status', 'cmp_1', '--json'])).json()).toEqual(STATUS);
    expect(received.map((q) => q.url)).toEqual([
      '/api/v1/campaigns/cmp_1/status',
      '/api/v1/campaigns/cmp_1/status',
    ]);
  });
});

describe('campaign watch', () => {
  const sse = (id: string, event: string, data: unknown) =>
    `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  const progress = {
    ...STATUS,
    state: 'running',
    stateReason: null,
    phases: [{ ...STATUS.phases[0]!, state: 'running' }],
  };

  /** A stream that drops after its first events, then resumes after Last-Event-ID. */
  function droppingStream(): void {
    handler = (req, res) => {
      if (req.url.endsWith('/status')) return json(res, 200, { ...STATUS, state: 'finished' });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (req.headers['last-event-id'] === undefined) {
        res.write(': hello\n\n');
        res.write(sse('cev_1', 'state_changed', { from: 'approved', to: 'running', reason: null }));
        res.write(sse('cev_2', 'phase_started', { phase: 0 }));
        // The connection drops (a restart, a proxy) once the events went out.
        res.write(sse('cev_3', 'progress', progress), () => res.destroy());
        return;
      }
      res.write(sse('cev_4', 'phase_advanced', { phase: 0, next: null }));
      res.end(
        sse('cev_5', 'state_changed', { from: 'running', to: 'finished', reason: 'completed' }),
      );
    };
  }

  it('prints one JSON line per event, reconnects with Last-Event-ID and exits 0 when finished', async () => {
    droppingStream();
    const r = await cli(['campaign', 'watch', 'cmp_1', '--json']);
    expect(r.code, r.stderr).toBe(EXIT_CODES.ok);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.id, l.event])).toEqual([
      ['cev_1', 'state_changed'],
      ['cev_2', 'phase_started'],
      ['cev_3', 'progress'],
      ['cev_4', 'phase_advanced'],
      ['cev_5', 'state_changed'],
    ]);
    expect(lines[2].data).toEqual(progress);
    const streams = received.filter((q) => q.url === '/api/v1/campaigns/cmp_1/events');
    expect(streams.map((q) => q.headers['last-event-id'])).toEqual([undefined, 'cev_3']);
    expect(streams[0]!.headers.accept).toBe('text/event-stream');
  });

  it('prints events and progress as lines when not a terminal, then the final status', async () => {
    droppingStream();
    const r = await cli(['campaign', 'watch', 'cmp_1']);
    expect(r.code, r.stderr).toBe(EXIT_CODES.ok);
    expect(r.stdout).toContain('state approved → running\nphase 1 started\n');
    expect(r.stdout).toContain('phase 1 running 4/4 — total 40: 2 ok, 2 failed, 0 in progress');
    expect(r.stdout).toContain('state running → finished (completed)');
    expect(r.stdout).toContain('campaign cmp_1: finished');
  });

  it('draws a progress bar per phase on a terminal', async () => {
    droppingStream();
    const r = await cli(['campaign', 'watch', 'cmp_1'], { tty: true });
    expect(r.code, r.stderr).toBe(EXIT_CODES.ok);
    expect(r.stderr).toMatch(/phase 1 \[[█░]+\] 4\/4 running \| ok 2 failed 2 active 0/);
    expect(r.stderr).toContain('state running → finished (completed)');
  });

  it('ends with the service error when the campaign does not exist', async () => {
    handler = (_req, res) => {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: 'NOT_FOUND', detail: 'no campaign cmp_9' }));
    };
    const r = await cli(['campaign', 'watch', 'cmp_9']);
    expect(r.code).toBe(EXIT_CODES.service);
    expect(r.stderr).toMatch(/no campaign cmp_9 \(HTTP 404\) \[NOT_FOUND\]/);
    expect(received).toHaveLength(1);
  });
});
