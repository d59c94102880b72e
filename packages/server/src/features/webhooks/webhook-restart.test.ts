import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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

const PASSWORD = 'webhook-crash-password-42';

describeEachDialect('webhooks across kill -9', (dialect) => {
  let database: TestDatabase;
  let dataDir: string;
  let env: Record<string, string>;
  const running: SpawnedServer[] = [];
  const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const waiters: Array<() => void> = [];
  const statuses = [503];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = statuses.shift() ?? 200;
      res.end();
      for (const wake of waiters.splice(0)) wake();
    });
  });
  const requests = async (n: number) => {
    while (received.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
  };

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-webhook-crash-'));
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const db = database.config;
    env = {
      UPDRAFT_DATA_DIR: dataDir,
      UPDRAFT_ADMIN_PASSWORD: PASSWORD,
      UPDRAFT_RATE_LIMIT_ENABLED: 'false',
      UPDRAFT_WEBHOOKS_POLL_INTERVAL_MS: '100',
      // The retry is due 1–2 s after the first attempt: long after the kill below.
      UPDRAFT_WEBHOOKS_RETRY_BASE_SECONDS: '2',
      UPDRAFT_WEBHOOKS_RETRY_MAX_SECONDS: '2',
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
    await new Promise((resolve) => receiver.close(resolve));
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
    const port = (receiver.address() as AddressInfo).port;
    const created = await call('POST', '/webhooks', {
      url: `http://127.0.0.1:${port}/hook`,
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
    await requests(1);
    const { db } = database.handle;
    const attempted = () =>
      db
        .selectFrom('webhook_attempts')
        .select('id')
        .execute()
        .then((rows) => rows.length);
    while ((await attempted()) < 1) await delay(20);
    await first.kill('SIGKILL');
    const beforeRestart = received.length;

    const second = await spawnServer(env);
    running.push(second);
    await requests(2);
    // The retry came from the restarted process, not from the killed one.
    expect(beforeRestart).toBe(1);
    const [a, b] = received;
    expect(b!.headers['updraft-webhook-id']).toBe(a!.headers['updraft-webhook-id']);
    const timestamp = String(b!.headers['updraft-webhook-timestamp']);
    const mac = createHmac('sha256', secret).update(`${timestamp}.${b!.body}`).digest('hex');
    expect(b!.headers['updraft-webhook-signature']).toBe(`v1=${mac}`);
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
