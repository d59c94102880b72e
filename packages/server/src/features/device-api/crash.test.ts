import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServerConfig } from '../../config/config.js';
import { issueToken } from '../../features/users/token.repository.js';
import { createUser } from '../../features/users/user.repository.js';
import { type Fleet, seedFleet, signedEnvelope } from '../../testing/release-fixtures.js';
import { type SpawnedServer, spawnServer } from '../../testing/spawn-server.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';

function envFor(db: ServerConfig['database'], dataDir: string): Record<string, string> {
  return {
    UPDRAFT_DATA_DIR: dataDir,
    UPDRAFT_LOG_LEVEL: 'error',
    UPDRAFT_RATE_LIMIT_ENABLED: 'false',
    UPDRAFT_ADMIN_PASSWORD: 'crash-test-admin-password-01',
    UPDRAFT_DATABASE_KIND: db.kind,
    UPDRAFT_DATABASE_SQLITE_FILE: db.sqliteFile,
    UPDRAFT_DATABASE_URL: db.url,
    UPDRAFT_DATABASE_SCHEMA: db.schema,
  };
}

async function kill9(server: SpawnedServer): Promise<void> {
  await server.kill('SIGKILL');
}

/**
 * Resolves once `reached()` holds: the child got to the point the test kills it at. Checked on
 * every turn of the event loop (the check reads files the child writes), so the kill lands while
 * the child is still in the step the check observed, not after a guessed sleep.
 */
async function until(what: string, reached: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await reached())) {
    if (Date.now() > deadline) throw new Error(`the server never reached: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

const sizeOf = (file: string) =>
  stat(file).then(
    (s) => s.size,
    () => -1,
  );

// The real server as a child process, killed with SIGKILL mid-work, then restarted on the same
// data directory and database: acknowledged work survives, partial work is invisible.
describeEachDialect('kill -9', (dialect) => {
  let db: TestDatabase;
  let dataDir: string;
  let env: Record<string, string>;
  let fleet: Fleet;
  let admin: Record<string, string>;
  const children: SpawnedServer[] = [];
  let running: SpawnedServer | undefined;
  const start = async () => {
    const c = await spawnServer(env);
    children.push(c);
    return c;
  };

  beforeAll(async () => {
    db = await openTestDatabase(dialect);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-crash-'));
    env = envFor(db.config, dataDir);
    fleet = await seedFleet(db.handle.db, { deviceCount: 12 });
    const at = new Date().toISOString();
    const token = await db.handle.db.transaction().execute(async (trx) => {
      const user = await createUser(
        trx,
        fleet.tenantId,
        { username: 'crash-admin', passwordHash: 'x', roles: ['admin'] },
        at,
      );
      return (
        await issueToken(
          trx,
          fleet.tenantId,
          { userId: user.id, kind: 'api', name: 'crash', expiresAt: null },
          at,
        )
      ).token;
    });
    admin = { authorization: `Bearer ${token}` };
  });
  afterAll(async () => {
    for (const c of children) await kill9(c);
    await db?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps an interrupted large upload resumable and shows no partial blob', {
    timeout: 180_000,
  }, async () => {
    const MIB = 1024 * 1024;
    const payload = randomBytes(12 * MIB);
    const digest = createHash('sha256').update(payload).digest('hex');
    let server = await start();
    const session = (await (
      await fetch(`${server.url}/api/v1/uploads`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ size: payload.length }),
      })
    ).json()) as { id: string };
    const put = (url: string, offset: number, body: NonNullable<RequestInit['body']>) =>
      fetch(`${url}/api/v1/uploads/${session.id}?offset=${offset}`, {
        method: 'PUT',
        headers: { ...admin, 'content-type': 'application/octet-stream' },
        body,
        duplex: 'half',
      } as RequestInit);
    expect((await put(server.url, 0, payload.subarray(0, 4 * MIB))).status).toBe(200);

    // The second chunk trickles in; the server dies in the middle of it.
    let sent = 0;
    const trickle = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= 4 * MIB) return controller.close();
        controller.enqueue(payload.subarray(4 * MIB + sent, 4 * MIB + sent + 256 * 1024));
        sent += 256 * 1024;
        await new Promise((r) => setTimeout(r, 20));
      },
    });
    const interrupted = put(server.url, 4 * MIB, trickle).catch((e: unknown) => e);
    // Killed once the server has spooled a whole MiB of the second chunk (beside the blobs):
    // those bytes are on disk but were never placed among the session's chunks nor acknowledged.
    const spool = path.join(dataDir, 'blobs', 'upload-spool');
    const spooled = async () => {
      const names = await readdir(spool).catch(() => [] as string[]);
      const mine = names.find((n) => n.startsWith(`${session.id}.`));
      return mine === undefined ? -1 : sizeOf(path.join(spool, mine));
    };
    await until('a MiB into the second chunk', async () => (await spooled()) >= MIB);
    await kill9(server);
    expect(await interrupted).toBeInstanceOf(Error);
    expect(await spooled()).toBeGreaterThanOrEqual(MIB);
    expect(await readdir(path.join(dataDir, 'blobs', 'uploads', session.id))).toEqual([
      '0000000000000000',
    ]);

    server = await start();
    const resumed = (await (
      await fetch(`${server.url}/api/v1/uploads/${session.id}`, { headers: admin })
    ).json()) as { offset: number };
    expect(resumed.offset).toBe(4 * MIB);
    expect(
      await db.handle.db
        .selectFrom('release_payloads')
        .selectAll()
        .where('sha256', '=', digest)
        .execute(),
    ).toEqual([]);

    // Resume from the acknowledged offset; the release then verifies and stores the payload.
    expect((await put(server.url, 4 * MIB, payload.subarray(4 * MIB, 8 * MIB))).status).toBe(200);
    expect((await put(server.url, 8 * MIB, payload.subarray(8 * MIB))).status).toBe(200);
    const envelope = await signedEnvelope(fleet, fleet.key, 100, [payload]);
    const create = (url: string) =>
      fetch(`${url}/api/v1/releases`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({
          deviceClassId: fleet.deviceClassId,
          envelope: Buffer.from(envelope).toString('base64'),
          payloads: [{ uploadId: session.id }],
        }),
      });
    // Killed while the release's payload is being stored (its blob's temp file exists; the
    // release row is written after the blob): the request dies, nothing of the release is
    // visible, and the same request succeeds after the restart.
    const tmp = path.join(dataDir, 'blobs', 'tmp');
    const racing = create(server.url).catch((e: unknown) => e);
    await until('the payload being stored', async () =>
      (await readdir(tmp).catch(() => [] as string[])).some((f) => f.startsWith(`${digest}.`)),
    );
    await kill9(server);
    expect(await racing).toBeInstanceOf(Error);
    const visible = async () => ({
      releases: await db.handle.db
        .selectFrom('releases')
        .select('id')
        .where('sequence_number', '=', 100)
        .execute(),
      payloads: await db.handle.db
        .selectFrom('release_payloads')
        .select('sha256')
        .where('sha256', '=', digest)
        .execute(),
      blob: await sizeOf(path.join(dataDir, 'blobs', 'objects', digest.slice(0, 2), digest)),
    });
    expect(await visible()).toEqual({ releases: [], payloads: [], blob: -1 });
    server = await start();
    expect((await create(server.url)).status).toBe(201);
    expect((await visible()).payloads).toEqual([{ sha256: digest }]);
    const release = (await db.handle.db
      .selectFrom('releases')
      .select('id')
      .where('sequence_number', '=', 100)
      .executeTakeFirstOrThrow()) as { id: string };
    const assigned = await fetch(`${server.url}/api/v1/actions`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: fleet.devices[0]!.id, releaseId: release.id }),
    });
    expect(assigned.status).toBe(201);
    const checkIn = (await (
      await fetch(`${server.url}/api/device/v1/check-in`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${fleet.devices[0]!.token}`,
          'content-type': 'application/json',
        },
        body: '{}',
      })
    ).json()) as { action: { payloads: { url: string }[] } };
    const body = Buffer.from(
      await (await fetch(`${server.url}${checkIn.action.payloads[0]!.url}`)).arrayBuffer(),
    );
    expect(createHash('sha256').update(body).digest('hex')).toBe(digest);
    running = server;
  });

  it('keeps every acknowledged device report through a kill in the middle of a burst', {
    timeout: 120_000,
  }, async () => {
    // Carries on with the server the upload test left running (one start fewer).
    let server = running ?? (await start());
    const release = (await db.handle.db
      .selectFrom('releases')
      .select('id')
      .where('sequence_number', '=', 100)
      .executeTakeFirstOrThrow()) as { id: string };
    const devices = fleet.devices.slice(1);
    const actionIds: string[] = [];
    for (const d of devices) {
      const res = await fetch(`${server.url}/api/v1/actions`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ deviceId: d.id, releaseId: release.id }),
      });
      actionIds.push(((await res.json()) as { id: string }).id);
    }
    const acknowledged: string[] = [];
    let stop = false;
    const burst = devices.map(async (d, i) => {
      const statuses = ['downloading', 'downloaded', 'installing', 'rebooting', 'success'];
      for (let step = 0; !stop; step++) {
        const status = step < 40 ? 'downloading' : statuses[Math.min(step - 39, 4)]!;
        const reportId = randomUUID();
        try {
          const res = await fetch(`${server.url}/api/device/v1/actions/${actionIds[i]}/feedback`, {
            method: 'POST',
            headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              reportId,
              status,
              progress: status === 'downloading' ? step % 101 : null,
            }),
          });
          if (res.status === 200) acknowledged.push(reportId);
          if (status === 'success') return;
        } catch {
          return;
        }
      }
    });
    // Killed once 30 reports were acknowledged: the burst (11 devices × 45 reports) is under way.
    await until('30 acknowledged reports', async () => acknowledged.length >= 30);
    await kill9(server);
    stop = true;
    await Promise.all(burst);
    expect(acknowledged.length).toBeGreaterThanOrEqual(30);

    server = await start();
    const events = await db.handle.db
      .selectFrom('action_events')
      .selectAll()
      .where('action_id', 'in', actionIds)
      .execute();
    const recorded = new Set(events.map((e) => e.report_id));
    expect(acknowledged.filter((id) => !recorded.has(id))).toEqual([]);
    // The kill hit the burst: some actions never got their last report.
    const open = await db.handle.db
      .selectFrom('actions')
      .select('id')
      .where('id', 'in', actionIds)
      .where('open_key', 'is not', null)
      .execute();
    expect(open.length).toBeGreaterThan(0);
    // Consistent: each action's state is its latest event's status, and open iff not terminal.
    for (const id of actionIds) {
      const action = await db.handle.db
        .selectFrom('actions')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const latest = events
        .filter((e) => e.action_id === id)
        .sort((a, b) => (a.at === b.at ? a.id.localeCompare(b.id) : a.at.localeCompare(b.at)))
        .at(-1)!;
      expect(action.state).toBe(latest.status === 'assigned' ? 'assigned' : latest.status);
      expect(action.open_key === null).toBe(
        ['success', 'failure', 'rejected', 'canceled'].includes(action.state),
      );
      expect(Number(action.revision)).toBe(events.filter((e) => e.action_id === id).length);
    }
    // The restarted server carries on where the devices left off.
    const res = await fetch(`${server.url}/api/device/v1/actions/${actionIds[0]}/feedback`, {
      method: 'POST',
      headers: { authorization: `Bearer ${devices[0]!.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        reportId: randomUUID(),
        status: 'failure',
        code: 'AGENT_TEST_ABORTED',
      }),
    });
    expect([200, 409]).toContain(res.status);
    await kill9(server);
  });
});
