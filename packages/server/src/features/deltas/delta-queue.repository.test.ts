import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import type { DeltaKey } from './delta.repository.js';
import {
  claimDelta,
  countQueuedDeltas,
  DELTA_ATTEMPTS_EXHAUSTED,
  failExhaustedDeltas,
  finishDelta,
  insertQueuedDelta,
  releaseDelta,
  renewDeltaLease,
} from './delta-queue.repository.js';

const hex = () => randomBytes(32).toString('hex');
const T0 = Date.parse('2026-12-03T12:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

// The queue's SQL on both dialects: the bound, the claim order, leases, and that only the
// current holder of a job can write its outcome.
describeEachDialect('delta job queue', (dialect) => {
  let tdb: TestDatabase;
  const db = () => tdb.handle.db;
  const support = () => tdb.handle.support;
  const key = (): DeltaKey => ({ tenantId: 'ten_q', baseDigest: hex(), targetDigest: hex() });
  const claim = (owner: string, nowMs: number, leaseMs = 1000, maxAttempts = 3) =>
    claimDelta(db(), support(), {
      owner,
      now: at(nowMs),
      leaseUntil: at(nowMs + leaseMs),
      maxAttempts,
    });
  const row = (k: DeltaKey) =>
    db()
      .selectFrom('deltas')
      .selectAll()
      .where('tenant_id', '=', k.tenantId)
      .where('base_digest', '=', k.baseDigest)
      .where('target_digest', '=', k.targetDigest)
      .executeTakeFirstOrThrow();

  beforeAll(async () => {
    tdb = await openTestDatabase(dialect);
  });
  afterAll(async () => {
    await tdb?.dispose();
  });
  beforeEach(async () => {
    await db().deleteFrom('deltas').execute();
  });

  it('bounds the queued rows and records a patch once', async () => {
    const [a, b, c] = [key(), key(), key()];
    expect(await insertQueuedDelta(db(), a, 10, at(0), 2)).toBe(true);
    expect(await insertQueuedDelta(db(), a, 10, at(1), 2)).toBe(false);
    expect(await insertQueuedDelta(db(), b, 10, at(2), 2)).toBe(true);
    expect(await insertQueuedDelta(db(), c, 10, at(3), 2)).toBe(false);
    expect(await countQueuedDeltas(db())).toBe(2);
    expect(await db().selectFrom('deltas').select('target_digest').execute()).toHaveLength(2);
    expect(await row(a)).toMatchObject({ state: 'queued', attempts: 0, claimed_by: null });
    // A running job does not count: room for one more.
    expect(await claim('r1', 10)).toMatchObject({ ...a, attempt: 1, owner: 'r1', targetSize: 10 });
    expect(await insertQueuedDelta(db(), c, 10, at(11), 2)).toBe(true);
  });

  it('claims the oldest job, skips a held one, and reclaims one whose lease lapsed', async () => {
    const [a, b] = [key(), key()];
    await insertQueuedDelta(db(), b, 10, at(5), 16);
    await insertQueuedDelta(db(), a, 10, at(0), 16);
    expect(await claim('r1', 10)).toMatchObject({ ...a, owner: 'r1', attempt: 1 });
    expect(await row(a)).toMatchObject({
      state: 'building',
      claimed_by: 'r1',
      lease_until: at(1010),
      attempts: 1,
    });
    expect(await claim('r2', 20)).toMatchObject({ ...b, owner: 'r2', attempt: 1 });
    // Both held: nothing to claim until a lease lapses.
    expect(await claim('r3', 500)).toBeUndefined();
    expect(await claim('r3', 1011)).toMatchObject({ ...a, owner: 'r3', attempt: 2 });
    expect(await row(a)).toMatchObject({ claimed_by: 'r3', lease_until: at(2011), attempts: 2 });
  });

  it('lets only the current holder renew, finish or give back a job', async () => {
    const k = key();
    await insertQueuedDelta(db(), k, 10, at(0), 16);
    const stale = (await claim('r1', 0))!;
    expect(await renewDeltaLease(db(), stale, at(1500))).toBe(true);
    expect((await row(k)).lease_until).toBe(at(1500));
    // r1 stops renewing (dead or hung); r2 takes the job after the lease.
    const current = (await claim('r2', 1501))!;
    expect(current.attempt).toBe(2);
    const before = await row(k);
    expect(
      await finishDelta(
        db(),
        stale,
        { state: 'ready', patchDigest: hex(), patchSize: 3 },
        at(1600),
      ),
    ).toBe(false);
    expect(await renewDeltaLease(db(), stale, at(9999))).toBe(false);
    expect(await releaseDelta(db(), stale, at(1600))).toBe(false);
    // Same owner, older attempt: still stale (the attempt is part of the claim's token).
    expect(await renewDeltaLease(db(), { ...current, attempt: 1 }, at(9999))).toBe(false);
    expect(await row(k)).toEqual(before);
    const patch = hex();
    expect(
      await finishDelta(
        db(),
        current,
        { state: 'ready', patchDigest: patch, patchSize: 3 },
        at(1700),
      ),
    ).toBe(true);
    expect(await row(k)).toMatchObject({
      state: 'ready',
      patch_digest: patch,
      claimed_by: null,
      lease_until: null,
      attempts: 2,
    });
    // Finished: not claimable, and the holder cannot write twice.
    expect(await claim('r3', 99_999)).toBeUndefined();
    expect(await finishDelta(db(), current, { state: 'failed', errorCode: 'X' }, at(1800))).toBe(
      false,
    );
  });

  it('gives a job back on a graceful stop without counting the attempt', async () => {
    const k = key();
    await insertQueuedDelta(db(), k, 10, at(0), 16);
    const held = (await claim('r1', 0))!;
    expect(await releaseDelta(db(), held, at(10))).toBe(true);
    expect(await row(k)).toMatchObject({
      state: 'queued',
      claimed_by: null,
      lease_until: null,
      attempts: 0,
    });
    // Claimable at once by another replica, lease or not.
    expect(await claim('r2', 11)).toMatchObject({ ...k, owner: 'r2', attempt: 1 });
  });

  it('fails a job whose claims all lapsed, with a code, and claims it no more', async () => {
    const k = key();
    await insertQueuedDelta(db(), k, 10, at(0), 16);
    for (let i = 0; i < 3; i++)
      expect(await claim(`r${i}`, i * 2000)).toMatchObject({ attempt: i + 1 });
    expect(await failExhaustedDeltas(db(), at(5000), 3)).toBe(0); // the last lease still runs
    expect(await claim('r9', 7001)).toBeUndefined();
    expect(await failExhaustedDeltas(db(), at(7001), 3)).toBe(1);
    expect(await row(k)).toMatchObject({
      state: 'failed',
      error_code: DELTA_ATTEMPTS_EXHAUSTED,
      claimed_by: null,
      lease_until: null,
    });
    expect(await failExhaustedDeltas(db(), at(9000), 3)).toBe(0);
  });

  it('hands each job to one of many concurrent claims', async () => {
    const keys = [key(), key(), key()];
    for (const [i, k] of keys.entries()) await insertQueuedDelta(db(), k, 10, at(i), 16);
    const claims = await Promise.all(
      Array.from({ length: 12 }, (_, i) => claim(`r${i}`, 100, 60_000)),
    );
    const won = claims.filter((c) => c !== undefined);
    expect(won).toHaveLength(3);
    expect(new Set(won.map((c) => c.targetDigest))).toEqual(
      new Set(keys.map((k) => k.targetDigest)),
    );
    expect(won.every((c) => c.attempt === 1)).toBe(true);
    const rows = await db().selectFrom('deltas').select(['claimed_by', 'attempts']).execute();
    expect(rows.map((r) => r.attempts)).toEqual([1, 1, 1]);
    expect(new Set(rows.map((r) => r.claimed_by))).toEqual(new Set(won.map((c) => c.owner)));
  });
});
