import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type SpawnedServer, spawnServer } from '../../testing/spawn-server.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { WebhookReceiver, webhookSignatureValid } from '../../testing/webhook-receiver.js';

const PASSWORD = 'webhook-crash-password-42';

describeEachDialect('webhooks across kill -9', (dialect) => {
  let database: TestDatabase;
  let dataDir: string;
  let env: Record<string, string>;
  const running: SpawnedServer[] = [];
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-webhook-crash-'));
    receiver = await WebhookReceiver.start();
    const db = database.config;
    env = {
      UPDRAFT_DATA_DIR: dataDir,
      UPDRAFT_ADMIN_PASSWORD: PASSWORD,
      UPDRAFT_RATE_LIMIT_ENABLED: 'false',
      UPDRAFT_WEBHOOKS_POLL_INTERVAL_MS: '100',
      // The retry is due 3–6 s after the first attempt: long after the kill below, even on a
      // loaded machine.
      UPDRAFT_WEBHOOKS_RETRY_BASE_SECONDS: '6',
      UPDRAFT_WEBHOOKS_RETRY_MAX_SECONDS: '6',
      UPDRAFT_DATABASE_KIND: db.kind,
      ...(db.kind === 'sqlite'
        ? { UPDRAFT_DATABASE_SQLITE_FILE: db.sqliteFile }
        : { UPDRAFT_DATABASE_URL: db.url, UPDRAFT_DATABASE_SCHEMA: db.schema }),
    };
  });
  afterAll(async () => {
    for (const server of running) await server.kill('SIGKILL');
    await database?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await receiver?.close();
  });

  it('retries a failed delivery after the server was killed and started again', async () => {
    const first = await spawnServer(env);
    running.push(first);
    const login = await fetch(`${first.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    const headers = {
      'content-type': 'application/json',
      authorization: `Bearer ${((await login.json()) as { token: string }).token}`,
    };
    const call = async (method: string, url: string, body: unknown) =>
      (await fetch(`${first.url}/api/v1${url}`, {
        method,
        headers,
        body: JSON.stringify(body),
      }).then((r) => r.json())) as Record<string, unknown>;
    await call('PUT', '/webhooks/settings', { allowPrivateTargets: true });
    receiver.statuses.push(503);
    const created = await call('POST', '/webhooks', {
      url: receiver.url,
      events: ['device.registered'],
    });
    const secret = created.secret as string;
    const cls = await call('POST', '/device-classes', {
      name: 'crash',
      vendorName: 'example.com',
      modelName: 'crash',
    });
    await call('POST', '/devices', { name: 'crash-1', deviceClassId: cls.id });

    // The first attempt is answered 503; once it is recorded, the server dies.
    await receiver.waitFor(1);
    const { db } = database.handle;
    const attempted = () =>
      db
        .selectFrom('webhook_attempts')
        .select('id')
        .execute()
        .then((rows) => rows.length);
    while ((await attempted()) < 1) await delay(20);
    await first.kill('SIGKILL');
    const beforeRestart = receiver.requests.length;

    const second = await spawnServer(env);
    running.push(second);
    await receiver.waitFor(2);
    // The retry came from the restarted process, not from the killed one.
    expect(beforeRestart, 'the killed server sent the retry itself').toBe(1);
    const [a, b] = receiver.requests;
    expect(b!.headers['updraft-webhook-id']).toBe(a!.headers['updraft-webhook-id']);
    expect(webhookSignatureValid(secret, b!)).toBe(true);
    expect(JSON.parse(b!.body)).toMatchObject({
      event: 'device.registered',
      data: { device: { name: 'crash-1' } },
    });
    expect(await second.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    const delivery = await db
      .selectFrom('webhook_deliveries')
      .select(['state', 'attempts'])
      .executeTakeFirstOrThrow();
    expect({ state: delivery.state, attempts: Number(delivery.attempts) }).toEqual({
      state: 'delivered',
      attempts: 2,
    });
    // Two process starts (tsx transpiles on the fly): slow on a loaded machine.
  }, 150_000);
});
