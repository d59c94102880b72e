import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, seedFleet, uploadRelease } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { type EncodeBudget, workerEncoder } from './delta-encoder.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// A long encoding must not hold up a server's shutdown: closing aborts the encoder and gives the
// job back to the queue (another replica, or this one after a restart, takes it). Bound by events, not by a stopwatch: the
// injected encoder never finishes on its own, so only the abort can end it.
describeEachDialect('delta worker shutdown', (dialect) => {
  let server: TestServer;
  let fleet: Fleet;
  let started: (budget: EncodeBudget) => void;
  const encoding = new Promise<EncodeBudget>((resolve) => {
    started = resolve;
  });
  let settled: 'pending' | 'aborted' = 'pending';

  beforeAll(async () => {
    server = await createTestServer(
      dialect,
      {},
      {
        deltaEncoder: (_base, _target, budget) =>
          new Promise((_resolve, reject) => {
            started(budget);
            budget.signal?.addEventListener('abort', () => {
              settled = 'aborted';
              reject(budget.signal?.reason);
            });
          }),
      },
    );
    fleet = await seedFleet(server.app.updraft.db);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('aborts a running encoding on close and gives its job back to the queue', async () => {
    const deltas = server.app.wiring.deltas;
    const admin = { ...(await server.adminHeaders()), 'content-type': 'application/json' };
    const old = randomBytes(64 << 10);
    const next = Buffer.concat([old.subarray(0, 1 << 10), randomBytes(512), old.subarray(1 << 10)]);
    const ids: string[] = [];
    for (const [seq, image] of [
      [1, old],
      [2, next],
    ] as const) {
      ids.push(await uploadRelease(server.app, admin, fleet, seq, [image], `${seq}.0.0`));
    }
    const res = await server.app.inject({
      method: 'PUT',
      url: `/api/v1/releases/${ids[1]}/delta-bases`,
      headers: admin,
      payload: { bases: ['1.0.0'], anyInstalled: false },
    });
    expect(res.statusCode).toBe(200);
    const budget = await encoding;
    expect(budget.signal?.aborted).toBe(false);
    const row = () =>
      server.app.updraft.db
        .selectFrom('deltas')
        .select(['state', 'claimed_by', 'lease_until', 'attempts'])
        .where('target_digest', '=', sha(next))
        .executeTakeFirstOrThrow();
    expect(await row()).toMatchObject({ state: 'building', claimed_by: deltas.owner, attempts: 1 });
    expect((await row()).lease_until).not.toBeNull();

    // close() resolves only once the running job ended; the encoder can end only by the abort.
    await deltas.close();
    expect(settled).toBe('aborted');
    expect(budget.signal?.aborted).toBe(true);
    // Given back: queued, no lease, the interrupted claim not counted, for another replica.
    expect(await row()).toEqual({
      state: 'queued',
      claimed_by: null,
      lease_until: null,
      attempts: 0,
    });
    const key = {
      tenantId: fleet.tenantId,
      baseDigest: sha(old),
      targetDigest: sha(randomBytes(8)),
    };
    expect(await deltas.request(key, 10)).toBe('closed');
  });
});

describe('workerEncoder', () => {
  it('rejects with the abort reason instead of a patch when aborted mid-encoding', async () => {
    const old = randomBytes(4 << 20);
    const next = Buffer.concat([
      old.subarray(0, 1 << 20),
      randomBytes(4096),
      old.subarray(1 << 20),
    ]);
    const closing = new AbortController();
    const reason = new Error('the server is closing');
    const result = workerEncoder(old, next, {
      maxMemoryBytes: 1 << 30,
      timeBudgetMs: 10 * 60_000,
      signal: closing.signal,
    });
    closing.abort(reason);
    await expect(result).rejects.toBe(reason);
  });
});
