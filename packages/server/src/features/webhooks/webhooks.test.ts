import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../build-server.js';
import { insertReleaseAndAction, seedFleet } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { WebhookReceiver, webhookSignatureValid } from '../../testing/webhook-receiver.js';
import { isPrivateAddress } from './target-guard.js';
import type { WebhookTransport } from './webhook-transport.js';
import { retryDelayMs, WebhookWorker } from './webhook-worker.js';

describe('private-address rule', () => {
  it('classifies loopback, private, link-local and unique-local addresses as private', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.20.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd12:3456::1',
      '::ffff:127.0.0.1',
      '[::1]',
    ])
      expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['8.8.8.8', '172.32.0.1', '2001:4860:4860::8888', '::ffff:8.8.8.8'])
      expect(isPrivateAddress(a), a).toBe(false);
  });

  it('backs off exponentially with jitter between half and all of the step, capped', () => {
    const o = { retryBaseSeconds: 30, retryMaxSeconds: 3600 };
    expect(retryDelayMs(1, o, () => 0)).toBe(15_000);
    expect(retryDelayMs(1, o, () => 0.999_999)).toBe(30_000);
    expect(retryDelayMs(3, o, () => 0)).toBe(60_000);
    expect(retryDelayMs(20, o, () => 0.5)).toBe(2_700_000);
  });
});

describeEachDialect('webhooks', (dialect) => {
  let server: TestServer;
  let headers: Record<string, string>;
  let receiver: WebhookReceiver;
  let clock = new Date('2026-12-03T10:00:00.000Z');
  const now = () => clock;
  const advance = (ms: number) => {
    clock = new Date(clock.getTime() + ms);
  };
  const MAX_ATTEMPTS = 3;
  // The loop looks at the outbox at start and then rarely: the tests drive it with runOnce().
  const webhookConfig = {
    maxAttempts: MAX_ATTEMPTS,
    pollIntervalMs: 3_600_000,
    retryBaseSeconds: 10,
    retryMaxSeconds: 60,
  };

  beforeAll(async () => {
    server = await createTestServer(dialect, { webhooks: webhookConfig }, { now });
    headers = await server.adminHeaders();
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  const api = (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: unknown,
    h = headers,
  ) =>
    server.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: h,
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  const worker = () => server.app.wiring.webhooks.worker;
  const allowPrivate = async (allow: boolean, h = headers) =>
    expect(
      (await api('PUT', '/webhooks/settings', { allowPrivateTargets: allow }, h)).json(),
    ).toEqual({ allowPrivateTargets: allow });
  const subscribe = async (events: string[], url = receiver.url) => {
    const res = await api('POST', '/webhooks', { url, events });
    expect(res.statusCode).toBe(201);
    return res.json() as { webhook: { id: string }; secret: string };
  };
  const deliveries = async (id: string) =>
    (await api('GET', `/webhooks/${id}/deliveries`)).json().items;
  const unsubscribe = async (id: string) =>
    expect((await api('DELETE', `/webhooks/${id}`)).statusCode).toBe(204);

  it('refuses loopback, private, link-local and unique-local URLs unless the tenant allows them', async () => {
    const other = {
      authorization: `Bearer ${(await server.tokenFor(['admin'], 'ten_hooks')).token}`,
    };
    for (const url of [
      'http://127.0.0.1:9/x',
      'http://localhost/x',
      'http://10.0.0.7/x',
      'https://192.168.1.10/x',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/x',
      'http://[fd00::1]/x',
      'http://[fe80::1]/x',
      'http://[::ffff:127.0.0.1]/x',
    ]) {
      const res = await api('POST', '/webhooks', { url, events: ['device.registered'] }, other);
      expect(res.statusCode, url).toBe(422);
      expect(res.json().code, url).toBe('WEBHOOK_TARGET_PRIVATE');
    }
    for (const url of [
      'ftp://example.com/x',
      'file:///etc/passwd',
      'not a url',
      'http://u:p@example.com/',
    ]) {
      const res = await api('POST', '/webhooks', { url, events: ['device.registered'] }, other);
      expect(res.statusCode, url).toBe(422);
      expect(res.json().code, url).toBe('WEBHOOK_URL_INVALID');
    }
    expect((await api('GET', '/webhooks', undefined, other)).json().items).toEqual([]);
    expect((await api('GET', '/webhooks/settings', undefined, other)).json()).toEqual({
      allowPrivateTargets: false,
    });
    await allowPrivate(true, other);
    const res = await api(
      'POST',
      '/webhooks',
      { url: 'http://10.0.0.7/x', events: ['action.failed'] },
      other,
    );
    expect(res.statusCode).toBe(201);
  });

  it('delivers device.registered signed with the secret shown once (verified with node:crypto)', async () => {
    await allowPrivate(true);
    const { webhook, secret } = await subscribe(['device.registered']);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const cls = await api('POST', '/device-classes', {
      name: 'hooks',
      vendorName: 'example.com',
      modelName: 'hooks',
    });
    const reg = await api('POST', '/devices', { name: 'hooked-1', deviceClassId: cls.json().id });
    expect(reg.statusCode).toBe(201);

    const before = receiver.requests.length;
    expect(await worker().runOnce()).toBe(1);
    const got = receiver.requests.slice(before);
    expect(got).toHaveLength(1);
    const { headers: h, body } = got[0]!;
    expect(webhookSignatureValid(secret, got[0]!)).toBe(true);
    expect(webhookSignatureValid('whsec_wrong', got[0]!)).toBe(false);
    expect(h['updraft-webhook-timestamp']).toBe(String(Math.floor(clock.getTime() / 1000)));
    expect(h['content-type']).toBe('application/json');
    const sent = JSON.parse(body);
    expect(sent).toEqual({
      id: h['updraft-webhook-id'],
      event: 'device.registered',
      tenantId: 'ten_default',
      occurredAt: clock.toISOString(),
      data: { device: reg.json().device },
    });
    const log = await deliveries(webhook.id);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({
      id: sent.id,
      state: 'delivered',
      attempts: 1,
      nextAttemptAt: null,
    });
    expect(log[0].log).toEqual([
      expect.objectContaining({
        attempt: 1,
        statusCode: 200,
        error: null,
        durationMs: expect.any(Number),
      }),
    ]);
    // Bulk registration publishes one event per registered device.
    const bulk = await api('POST', '/devices/bulk', {
      devices: [
        { name: 'hooked-2', deviceClassId: cls.json().id },
        { name: 'hooked-1', deviceClassId: cls.json().id },
        { name: 'hooked-3', deviceClassId: cls.json().id },
      ],
    });
    expect(bulk.json().items.map((i: { ok: boolean }) => i.ok)).toEqual([true, false, true]);
    expect(await worker().runOnce()).toBe(2);
    expect(
      receiver.requests
        .slice(before + 1)
        .map((r) => JSON.parse(r.body).data.device.name)
        .sort(),
    ).toEqual(['hooked-2', 'hooked-3']);
    await unsubscribe(webhook.id);
  });

  it('never shows the secret again: not in lists, delivery logs, the database row or the logs', async () => {
    const { webhook, secret } = await subscribe(['action.failed']);
    await api('POST', `/webhooks/${webhook.id}/test`);
    await worker().runOnce();
    const list = await api('GET', '/webhooks');
    expect(list.json().items).toContainEqual(
      expect.objectContaining({ id: webhook.id, url: receiver.url, events: ['action.failed'] }),
    );
    expect(list.body).not.toContain(secret);
    expect(list.body).not.toContain('secret');
    expect(JSON.stringify(await deliveries(webhook.id))).not.toContain(secret);
    const row = await server.app.updraft.db
      .selectFrom('webhooks')
      .selectAll()
      .where('id', '=', webhook.id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(secret.slice(6));
    const audit = await server.app.updraft.db.selectFrom('audit_log').selectAll().execute();
    expect(JSON.stringify(audit)).not.toContain(secret.slice(6));
    expect(server.logs.join('')).not.toContain(secret.slice(6));
    await unsubscribe(webhook.id);
  });

  it('retries a delivery answered 500 after a backoff, then delivers it', async () => {
    const { webhook, secret } = await subscribe(['device.registered']);
    await server.app.updraft.db.transaction().execute((trx) =>
      server.app.wiring.webhooks.outbox.publish(trx, 'ten_default', 'device.registered', {
        device: { id: 'dev_x' },
      }),
    );
    receiver.statuses.push(500);
    const before = receiver.requests.length;
    expect(await worker().runOnce()).toBe(1);
    let [d] = await deliveries(webhook.id);
    expect(d).toMatchObject({ state: 'pending', attempts: 1 });
    expect(d.log).toEqual([expect.objectContaining({ attempt: 1, statusCode: 500 })]);
    const wait = Date.parse(d.nextAttemptAt) - clock.getTime();
    expect(wait).toBeGreaterThanOrEqual(5_000);
    expect(wait).toBeLessThanOrEqual(10_000);
    // Not due yet: nothing is sent.
    expect(await worker().runOnce()).toBe(0);
    advance(wait);
    expect(await worker().runOnce()).toBe(1);
    [d] = await deliveries(webhook.id);
    expect(d).toMatchObject({ state: 'delivered', attempts: 2 });
    expect(d.log.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 200]);
    const [first, second] = receiver.requests.slice(before);
    expect(first!.headers['updraft-webhook-id']).toBe(second!.headers['updraft-webhook-id']);
    expect(first!.body).toBe(second!.body);
    expect(webhookSignatureValid(secret, second!)).toBe(true);
    await unsubscribe(webhook.id);
  });

  it(`marks a delivery failed after ${MAX_ATTEMPTS} failed attempts`, async () => {
    const { webhook } = await subscribe(['device.registered']);
    await server.app.updraft.db
      .transaction()
      .execute((trx) =>
        server.app.wiring.webhooks.outbox.publish(trx, 'ten_default', 'device.registered', {}),
      );
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      receiver.statuses.push(503);
      expect(await worker().runOnce()).toBe(1);
      advance(60_000);
    }
    expect(await worker().runOnce()).toBe(0);
    const [d] = await deliveries(webhook.id);
    expect(d).toMatchObject({ state: 'failed', attempts: MAX_ATTEMPTS, nextAttemptAt: null });
    expect(d.log.map((a: { statusCode: number }) => a.statusCode)).toEqual([503, 503, 503]);
    await unsubscribe(webhook.id);
  });

  it('writes deliveries in the transaction of the change: a rolled-back change leaves none', async () => {
    const { webhook } = await subscribe(['device.registered']);
    const { db } = server.app.updraft;
    const { outbox } = server.app.wiring.webhooks;
    await expect(
      db.transaction().execute(async (trx) => {
        await outbox.publish(trx, 'ten_default', 'device.registered', { device: { id: 'ghost' } });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await deliveries(webhook.id)).toEqual([]);
    await db
      .transaction()
      .execute((trx) =>
        outbox.publish(trx, 'ten_default', 'device.registered', { device: { id: 'real' } }),
      );
    expect((await deliveries(webhook.id)).map((d: { state: string }) => d.state)).toEqual([
      'pending',
    ]);
    await unsubscribe(webhook.id);
  });

  it('publishes action.failed when a device reports that its action failed', async () => {
    const { webhook, secret } = await subscribe(['action.failed']);
    const fleet = await seedFleet(server.app.updraft.db);
    const device = fleet.devices[0]!;
    const ids = {
      tenantId: fleet.tenantId,
      deviceClassId: fleet.deviceClassId,
      deviceId: device.id,
      releaseId: `rel_${randomUUID()}`,
      actionId: `act_${randomUUID()}`,
    };
    await insertReleaseAndAction(server.app.updraft.db, ids, { state: 'downloading', open: true });
    const res = await server.app.inject({
      method: 'POST',
      url: `/api/device/v1/actions/${ids.actionId}/feedback`,
      headers: { authorization: `Bearer ${device.token}` },
      payload: {
        reportId: randomUUID(),
        status: 'failure',
        code: 'AGENT_VERIFY_FAILED',
        message: 'digest mismatch',
      },
    });
    expect(res.statusCode).toBe(200);
    const before = receiver.requests.length;
    expect(await worker().runOnce()).toBe(1);
    const [got] = receiver.requests.slice(before);
    expect(webhookSignatureValid(secret, got!)).toBe(true);
    expect(JSON.parse(got!.body)).toMatchObject({
      event: 'action.failed',
      data: {
        action: { id: ids.actionId, deviceId: device.id, releaseId: ids.releaseId },
        code: 'AGENT_VERIFY_FAILED',
        message: 'digest mismatch',
      },
    });
    await unsubscribe(webhook.id);
  });

  it('sends a test delivery on POST /webhooks/{id}/test', async () => {
    const { webhook, secret } = await subscribe(['campaign.state_changed']);
    const res = await api('POST', `/webhooks/${webhook.id}/test`);
    expect(res.statusCode).toBe(202);
    const before = receiver.requests.length;
    expect(await worker().runOnce()).toBe(1);
    const [got] = receiver.requests.slice(before);
    expect(webhookSignatureValid(secret, got!)).toBe(true);
    expect(JSON.parse(got!.body)).toMatchObject({
      id: res.json().deliveryId,
      event: 'webhook.test',
      data: { webhookId: webhook.id },
    });
    expect((await api('POST', '/webhooks/whk_missing/test')).statusCode).toBe(404);
    await unsubscribe(webhook.id);
  });

  it('refuses at delivery time a private address the tenant no longer allows (also after DNS)', async () => {
    const literal = await subscribe(['device.registered']);
    const named = await subscribe(
      ['device.registered'],
      receiver.url.replace('127.0.0.1', 'localhost'),
    );
    await allowPrivate(false);
    await server.app.updraft.db
      .transaction()
      .execute((trx) =>
        server.app.wiring.webhooks.outbox.publish(trx, 'ten_default', 'device.registered', {}),
      );
    const before = receiver.requests.length;
    expect(await worker().runOnce()).toBe(2);
    expect(receiver.requests.length).toBe(before);
    const [a] = await deliveries(literal.webhook.id);
    const [b] = await deliveries(named.webhook.id);
    expect(a.log[0]).toMatchObject({ statusCode: null, error: expect.stringContaining('private') });
    expect(b.log[0]).toMatchObject({
      statusCode: null,
      error: expect.stringContaining('WEBHOOK_TARGET_PRIVATE'),
    });
    await allowPrivate(true);
    await unsubscribe(literal.webhook.id);
    await unsubscribe(named.webhook.id);
  });

  it('sends at most `concurrency` at once, and two workers claim disjoint deliveries', async () => {
    const { webhook } = await subscribe(['device.registered']);
    const { db, dbSupport } = server.app.updraft;
    await db.transaction().execute((trx) =>
      server.app.wiring.webhooks.outbox.publishEach(
        trx,
        'ten_default',
        'device.registered',
        [1, 2, 3, 4, 5].map((n) => ({ n })),
      ),
    );
    // A transport that holds every request until the test lets them go.
    let inFlight = 0;
    let most = 0;
    const sentIds: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started!: () => void;
    const allStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    const transport: WebhookTransport = async (request) => {
      inFlight++;
      most = Math.max(most, inFlight);
      sentIds.push(request.headers['updraft-webhook-id'] as string);
      if (sentIds.length === 4) started();
      await gate;
      inFlight--;
      return { ok: true, status: 204 };
    };
    const replica = () =>
      new WebhookWorker({
        db,
        support: dbSupport,
        transport,
        secrets: server.app.wiring.webhooks.secrets,
        now,
        logger: server.app.log,
        options: { ...server.config.webhooks, concurrency: 2 },
      });
    const [a, b] = [replica(), replica()];
    const passes = Promise.all([a.runOnce(), b.runOnce()]);
    await allStarted;
    release();
    expect(await passes).toEqual([2, 2]);
    expect(most).toBe(4);
    expect(new Set(sentIds).size).toBe(4);
    expect(await a.runOnce()).toBe(1);
    expect(await b.runOnce()).toBe(0);
    const states = (await deliveries(webhook.id)).map((d: { state: string }) => d.state);
    expect(states).toEqual(['delivered', 'delivered', 'delivered', 'delivered', 'delivered']);
    await Promise.all([a.close(), b.close()]);
    await unsubscribe(webhook.id);
  });

  it('gives a delivery in flight back unattempted when the worker closes', async () => {
    const { webhook } = await subscribe(['device.registered']);
    const { db, dbSupport } = server.app.updraft;
    await db
      .transaction()
      .execute((trx) =>
        server.app.wiring.webhooks.outbox.publish(trx, 'ten_default', 'device.registered', {}),
      );
    let sending!: () => void;
    const inFlight = new Promise<void>((resolve) => {
      sending = resolve;
    });
    const closing = new WebhookWorker({
      db,
      support: dbSupport,
      // Answers only when the worker aborts it (as a receiver that hangs would).
      transport: (request) =>
        new Promise((resolve) => {
          sending();
          request.signal.addEventListener('abort', () => resolve({ ok: false, error: 'aborted' }));
        }),
      secrets: server.app.wiring.webhooks.secrets,
      now,
      logger: server.app.log,
      options: server.config.webhooks,
    });
    const pass = closing.runOnce();
    await inFlight;
    await closing.close();
    expect(await pass).toBe(1);
    const [d] = await deliveries(webhook.id);
    expect(d).toMatchObject({ state: 'pending', attempts: 0, log: [] });
    // Due at once for the next worker (no lease left behind).
    expect(await worker().runOnce()).toBe(1);
    expect((await deliveries(webhook.id))[0]).toMatchObject({ state: 'delivered', attempts: 1 });
    await unsubscribe(webhook.id);
  });

  it('drops finished deliveries after the retention period and keeps pending ones', async () => {
    const { webhook } = await subscribe(['device.registered']);
    const { db, dbSupport } = server.app.updraft;
    const { outbox } = server.app.wiring.webhooks;
    await db
      .transaction()
      .execute((trx) => outbox.publish(trx, 'ten_default', 'device.registered', { n: 1 }));
    expect(await worker().runOnce()).toBe(1);
    advance(server.config.webhooks.retentionDays * 86_400_000 + 1);
    await db
      .transaction()
      .execute((trx) => outbox.publish(trx, 'ten_default', 'device.registered', { n: 2 }));
    // A fresh worker prunes on its first pass.
    const fresh = new WebhookWorker({
      db,
      support: dbSupport,
      transport: async () => ({ ok: true, status: 500 }),
      secrets: server.app.wiring.webhooks.secrets,
      now,
      logger: server.app.log,
      options: server.config.webhooks,
    });
    expect(await fresh.runOnce()).toBe(1);
    await fresh.close();
    const left = await deliveries(webhook.id);
    expect(left.map((d: { state: string; attempts: number }) => [d.state, d.attempts])).toEqual([
      ['pending', 1],
    ]);
    await unsubscribe(webhook.id);
  });

  it("keeps tenants apart: another tenant's admin cannot see, test or delete a webhook", async () => {
    const { webhook } = await subscribe(['device.registered']);
    const other = {
      authorization: `Bearer ${(await server.tokenFor(['admin'], 'ten_hooks')).token}`,
    };
    expect((await api('GET', '/webhooks', undefined, other)).body).not.toContain(webhook.id);
    expect(
      (await api('GET', `/webhooks/${webhook.id}/deliveries`, undefined, other)).statusCode,
    ).toBe(404);
    expect((await api('POST', `/webhooks/${webhook.id}/test`, undefined, other)).statusCode).toBe(
      404,
    );
    expect((await api('DELETE', `/webhooks/${webhook.id}`, undefined, other)).statusCode).toBe(404);
    // Another tenant's event reaches only that tenant's webhooks.
    await server.app.updraft.db
      .transaction()
      .execute((trx) =>
        server.app.wiring.webhooks.outbox.publish(trx, 'ten_hooks', 'device.registered', {}),
      );
    expect(await deliveries(webhook.id)).toEqual([]);
    await unsubscribe(webhook.id);
  });

  it('delivers after a restart: a delivery pending when the server closed is sent by the next one', async () => {
    const first = await createTestServer(dialect, { webhooks: webhookConfig }, { now });
    const h = await first.adminHeaders();
    await first.app.inject({
      method: 'PUT',
      url: '/api/v1/webhooks/settings',
      headers: h,
      payload: { allowPrivateTargets: true },
    });
    const created = await first.app.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      headers: h,
      payload: { url: receiver.url, events: ['device.registered'] },
    });
    const { webhook, secret } = created.json();
    await first.app.updraft.db.transaction().execute((trx) =>
      first.app.wiring.webhooks.outbox.publish(trx, 'ten_default', 'device.registered', {
        device: { id: 'dev_restart' },
      }),
    );
    receiver.statuses.push(503);
    const before = receiver.requests.length;
    // The first attempt (answered 503) is made by this pass or by the worker's own first pass,
    // which may still be under way on a loaded machine: either way exactly one request arrives.
    await first.app.wiring.webhooks.worker.runOnce();
    await expect.poll(() => receiver.requests.length).toBe(before + 1);
    await first.app.close();

    // A new process on the same database (and data directory, so the same master key).
    const logs: string[] = [];
    const second = await buildServer(first.config, {
      now,
      print: () => {},
      logStream: new Writable({
        write(chunk, _e, cb) {
          logs.push(String(chunk));
          cb();
        },
      }),
    });
    try {
      advance(60_000);
      expect(await second.wiring.webhooks.worker.runOnce()).toBe(1);
      const sent = receiver.requests.slice(before);
      expect(sent).toHaveLength(2);
      expect(sent[1]!.headers['updraft-webhook-id']).toBe(sent[0]!.headers['updraft-webhook-id']);
      expect(webhookSignatureValid(secret, sent[1]!)).toBe(true);
      const log = await second.inject({
        method: 'GET',
        url: `/api/v1/webhooks/${webhook.id}/deliveries`,
        headers: h,
      });
      expect(log.json().items[0]).toMatchObject({ state: 'delivered', attempts: 2 });
    } finally {
      await second.close();
      await first.database.dispose();
      await rm(first.dataDir, { recursive: true, force: true });
    }
  });
});
