import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerError } from '../../errors.js';
import { type CampaignKit, campaignKit } from '../../testing/campaign-fixtures.js';
import { openSse, type SseBlock } from '../../testing/sse-client.js';
import { describeEachDialect } from '../../testing/test-database.js';
import {
  createTestServer,
  TEST_ADMIN_PASSWORD,
  type TestServer,
} from '../../testing/test-server.js';
import { CampaignEventStreams } from './campaign-event-stream.js';
import { recordCampaignEvent } from './campaign-events.js';

// These tests seed targets and events themselves (the API over given rows): no engine steps in.
const IDLE_ENGINE = { start() {}, poke() {}, close: async () => {} };

const stateChanges = (blocks: readonly SseBlock[]) =>
  blocks.filter((b) => b.event === 'state_changed');
const progress = (blocks: readonly SseBlock[]) =>
  blocks.filter((b) => b.event === 'progress').map((b) => JSON.parse(b.data ?? 'null'));

describeEachDialect('campaign event stream (SSE)', (dialect) => {
  let server: TestServer;
  let kit: CampaignKit;
  let base: string;
  beforeAll(async () => {
    server = await createTestServer(dialect, {}, { campaignEngine: IDLE_ENGINE });
    kit = await campaignKit(server);
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}/api/v1`;
  });
  afterAll(() => server?.close());

  const approvedAndStarted = async () => {
    const created = await kit.call('rollout-admin', 'POST', '/campaigns', {
      name: 'watched',
      releaseId: kit.releaseId,
      filter: 'device.name != ""',
    });
    const id = created.json().id as string;
    await kit.call('approver', 'POST', `/campaigns/${id}/approve`, {});
    await kit.call('rollout-admin', 'POST', `/campaigns/${id}/start`, {});
    return id;
  };

  it('replays the event log, follows it, and sends progress when the status changed', async () => {
    const id = await approvedAndStarted();
    const stream = await openSse(`${base}/campaigns/${id}/events`, kit.as.approver);
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(stream.headers['cache-control']).toBe('no-cache');
      await expect.poll(() => stateChanges(stream.blocks).length).toBe(2);
      await expect.poll(() => progress(stream.blocks).length).toBeGreaterThan(0);
      const status = (await kit.call('approver', 'GET', `/campaigns/${id}/status`)).json();
      expect(progress(stream.blocks)[0]).toEqual(status);
      await kit.call('rollout-admin', 'POST', `/campaigns/${id}/pause`, {});
      await expect.poll(() => stateChanges(stream.blocks).length).toBe(3);
      expect(stateChanges(stream.blocks).map((b) => JSON.parse(b.data ?? ''))).toEqual([
        { from: 'draft', to: 'approved', reason: 'approved' },
        { from: 'approved', to: 'running', reason: 'operator' },
        { from: 'running', to: 'paused', reason: 'operator' },
      ]);
      // Every log event carries its log id; progress carries none (not in the log).
      expect(stateChanges(stream.blocks).every((b) => b.id?.startsWith('cev_'))).toBe(true);
      expect(
        stream.blocks.filter((b) => b.event === 'progress').every((b) => b.id === undefined),
      ).toBe(true);
      await expect.poll(() => progress(stream.blocks).at(-1)?.state).toBe('paused');
    } finally {
      stream.close();
    }
  });

  it("streams to the dashboard's session cookie (a same-origin EventSource sends no header of its own)", async () => {
    const id = await approvedAndStarted();
    const login = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'x-updraft-client': 'web' },
      payload: { username: 'admin', password: TEST_ADMIN_PASSWORD },
    });
    const cookie = [login.headers['set-cookie'] ?? []]
      .flat()
      .find((c) => c.startsWith('updraft_session='));
    expect(cookie).toBeDefined();
    // What an EventSource sends: the cookie and Accept, no x-updraft-client, no Authorization.
    const stream = await openSse(`${base}/campaigns/${id}/events`, {
      cookie: cookie!.slice(0, cookie!.indexOf(';')),
    });
    try {
      expect(stream.status).toBe(200);
      await expect.poll(() => stateChanges(stream.blocks).length).toBe(2);
      await expect.poll(() => progress(stream.blocks).length).toBeGreaterThan(0);
    } finally {
      stream.close();
    }
    const anonymous = await openSse(`${base}/campaigns/${id}/events`, {});
    expect(anonymous.status).toBe(401);
    anonymous.close();
  });

  it('resumes after Last-Event-ID with only the later events', async () => {
    const id = await approvedAndStarted();
    await kit.call('rollout-admin', 'POST', `/campaigns/${id}/pause`, {});
    const first = await openSse(`${base}/campaigns/${id}/events`, kit.as.approver);
    await expect.poll(() => stateChanges(first.blocks).length).toBe(3);
    first.close();
    const ids = stateChanges(first.blocks).map((b) => b.id);
    const again = await openSse(`${base}/campaigns/${id}/events`, {
      ...kit.as.approver,
      'last-event-id': ids[0] as string,
    });
    try {
      // The progress event follows the replay in the same pass: once it is there, the replay is whole.
      await expect.poll(() => progress(again.blocks).length).toBeGreaterThan(0);
      expect(stateChanges(again.blocks).map((b) => b.id)).toEqual(ids.slice(1));
    } finally {
      again.close();
    }
  });

  it('replays a backlog longer than one read, in log order', async () => {
    const id = await approvedAndStarted();
    const campaign = { id, tenantId: kit.fleet.tenantId, name: 'watched' };
    const base0 = Date.parse('2000-01-01T00:00:00.000Z');
    await server.app.updraft.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 250; i++)
        await recordCampaignEvent(
          trx,
          server.app.wiring.webhooks.outbox,
          campaign,
          'phase_started',
          { phase: i },
          new Date(base0 + i).toISOString(),
        );
    });
    const stream = await openSse(`${base}/campaigns/${id}/events`, kit.as.approver);
    try {
      await expect.poll(() => progress(stream.blocks).length).toBeGreaterThan(0);
      const phases = stream.blocks
        .filter((b) => b.event === 'phase_started')
        .map((b) => JSON.parse(b.data ?? '').phase);
      // The seeded entries are older than the campaign's own: they come first, all of them.
      expect(phases).toEqual(Array.from({ length: 250 }, (_, i) => i));
      expect(stateChanges(stream.blocks)).toHaveLength(2);
    } finally {
      stream.close();
    }
  });

  it('streams an entry that commits after a later-stamped one was sent (another replica)', async () => {
    const id = await approvedAndStarted();
    const stream = await openSse(`${base}/campaigns/${id}/events`, kit.as.approver);
    try {
      await expect.poll(() => stateChanges(stream.blocks).length).toBe(2);
      const newest = await server.app.updraft.db
        .selectFrom('campaign_events')
        .select(['at'])
        .where('campaign_id', '=', id)
        .orderBy('id', 'desc')
        .executeTakeFirstOrThrow();
      // Stamped a second before the newest entry the stream already sent, committed now.
      await server.app.updraft.db
        .transaction()
        .execute((trx) =>
          recordCampaignEvent(
            trx,
            server.app.wiring.webhooks.outbox,
            { id, tenantId: kit.fleet.tenantId, name: 'watched' },
            'phase_started',
            { phase: 0 },
            new Date(Date.parse(newest.at) - 1000).toISOString(),
          ),
        );
      await expect
        .poll(() => stream.blocks.filter((b) => b.event === 'phase_started').length)
        .toBe(1);
      // Re-reading the window sends nothing twice.
      await kit.call('rollout-admin', 'POST', `/campaigns/${id}/pause`, {});
      await expect.poll(() => stateChanges(stream.blocks).length).toBe(3);
      const ids = stream.blocks.filter((b) => b.id !== undefined).map((b) => b.id);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      stream.close();
    }
  });

  it('answers an unknown campaign and a malformed Last-Event-ID as problems, not streams', async () => {
    const missing = await kit.call('admin', 'GET', '/campaigns/cmp_missing/events');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('RESOURCE_NOT_FOUND');
    const id = await approvedAndStarted();
    const bad = await server.app.inject({
      method: 'GET',
      url: `/api/v1/campaigns/${id}/events`,
      headers: { ...kit.as.admin, 'last-event-id': 'x y' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('HTTP_VALIDATION_FAILED');
  });

  it('ends open streams when the server closes, without holding the shutdown', async () => {
    const other = await createTestServer(dialect, {}, { campaignEngine: IDLE_ENGINE });
    const otherKit = await campaignKit(other, 1);
    await other.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (other.app.server.address() as AddressInfo).port;
    const created = await otherKit.call('admin', 'POST', '/campaigns', {
      name: 'x',
      releaseId: otherKit.releaseId,
      filter: 'device.name != ""',
    });
    const stream = await openSse(
      `http://127.0.0.1:${port}/api/v1/campaigns/${created.json().id}/events`,
      otherKit.as.admin,
    );
    await expect.poll(() => progress(stream.blocks).length).toBe(1);
    const started = performance.now();
    await other.close();
    await stream.ended;
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe('CampaignEventStreams', () => {
  // A bare Fastify app with fast timings over a real (SQLite) database: limits, keep-alive,
  // progress only on change, and the bookkeeping of closed streams.
  let server: TestServer;
  let app: FastifyInstance;
  let streams: CampaignEventStreams;
  let url: string;
  let statusValue = 1;
  beforeAll(async () => {
    server = await createTestServer('sqlite', {}, { campaignEngine: IDLE_ENGINE });
    streams = new CampaignEventStreams(
      server.app.updraft.db,
      async () => ({ n: statusValue }),
      server.app.log,
      { pollMs: 20, progressMs: 20, keepAliveMs: 100 },
      2,
    );
    app = Fastify();
    app.get<{ Params: { tenant: string } }>('/streams/:tenant', async (request, reply) => {
      try {
        await streams.open(request, reply, {
          tenantId: request.params.tenant,
          campaignId: 'cmp_none',
          lastEventId: undefined,
        });
      } catch (error) {
        if (error instanceof ServerError)
          return reply.code(error.status).send({ code: error.code });
        throw error;
      }
    });
    app.addHook('preClose', (done) => {
      streams.close();
      done();
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/streams`;
  });
  afterAll(async () => {
    await app?.close();
    await server?.close();
  });

  it('bounds the streams per tenant and frees a slot when a client goes', async () => {
    const a = await openSse(`${url}/t1`, {});
    const b = await openSse(`${url}/t1`, {});
    const c = await fetch(`${url}/t1`);
    expect(c.status).toBe(429);
    expect(((await c.json()) as { code: string }).code).toBe('CAMPAIGN_STREAM_LIMIT');
    // Another tenant has its own budget.
    const d = await openSse(`${url}/t2`, {});
    expect(d.status).toBe(200);
    a.close();
    await expect.poll(() => streams.openCount).toBe(2);
    const e = await openSse(`${url}/t1`, {});
    expect(e.status).toBe(200);
    for (const s of [b, d, e]) s.close();
    await expect.poll(() => streams.openCount).toBe(0);
  });

  it('sends progress only when it changed, and keep-alive comments while idle', async () => {
    statusValue = 1;
    const s = await openSse(`${url}/t3`, {});
    try {
      await expect
        .poll(() => s.blocks.filter((b) => b.comment === 'keep-alive').length)
        .toBeGreaterThan(1);
      expect(progress(s.blocks)).toEqual([{ n: 1 }]);
      statusValue = 2;
      await expect.poll(() => progress(s.blocks)).toEqual([{ n: 1 }, { n: 2 }]);
    } finally {
      s.close();
    }
  });
});
