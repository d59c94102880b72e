import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { applyToBuffer } from '@updraft/delta';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerDeps } from '../../build-server.js';
import { componentHex, seedFleet, uploadRelease } from '../../testing/release-fixtures.js';
import { type Replica, type ReplicaSet, startReplicas } from '../../testing/replicas.js';
import {
  openTestDatabase,
  postgresUnavailableReason,
  type TestDatabase,
} from '../../testing/test-database.js';
import { DEFAULT_DELTA_LIMITS, type DeltaLimits } from './delta.service.js';
import {
  type DeltaEncoder,
  type EncodeBudget,
  type EncodeResult,
  inProcessEncoder,
} from './delta-encoder.js';
import { claimDelta, insertQueuedDelta } from './delta-queue.repository.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const COMPONENT = componentHex(0);
const HOUR = 3_600_000;

/** A firmware-like edit of `old`: a few patched bytes and an inserted block. */
function edited(old: Buffer): Buffer {
  const copy = Buffer.from(old);
  for (let i = 1000; i < copy.length; i += 9973) copy[i] = (copy[i]! + 1) & 0xff;
  return Buffer.concat([copy.subarray(0, 5000), randomBytes(700), copy.subarray(5000)]);
}

/** Short timings, so leases lapse and polls come within a test. */
const fast = (change: Partial<DeltaLimits> = {}): DeltaLimits => ({
  ...DEFAULT_DELTA_LIMITS,
  leaseMs: 400,
  renewEveryMs: 50,
  pollIntervalMs: 50,
  ...change,
});

/** The real encoder (the same diff as the worker thread's) counting its calls per replica. */
function countingEncoders(delayMs: number) {
  const calls: number[] = [];
  const encoder =
    (i: number): DeltaEncoder =>
    async (base, target, budget) => {
      calls[i] = (calls[i] ?? 0) + 1;
      // Longer than the lease: the job stays with this replica only because it renews.
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return inProcessEncoder(base, target, budget);
    };
  return { calls, encoder, total: () => calls.reduce((a, b) => a + (b ?? 0), 0) };
}

/** An encoder that blocks until the test answers for it (or the encoding is aborted). */
function blockingEncoder() {
  let began: (budget: EncodeBudget) => void = () => {};
  const started = new Promise<EncodeBudget>((resolve) => {
    began = resolve;
  });
  let answer: (result: EncodeResult) => void = () => {};
  const answered = new Promise<EncodeResult>((resolve) => {
    answer = resolve;
  });
  const encoder: DeltaEncoder = (_base, _target, budget) =>
    new Promise((resolve, reject) => {
      began(budget);
      if (budget.signal?.aborted) return reject(budget.signal.reason);
      budget.signal?.addEventListener('abort', () => reject(budget.signal?.reason), {
        once: true,
      });
      void answered.then(resolve);
    });
  return { encoder, started, answer };
}

/**
 * Real HTTP without keep-alive (a kept-alive socket would hold a replica's close open until the
 * server's keep-alive timeout).
 */
function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

type Answer = {
  action: { payloads: { digest: string; delta?: { patchDigest: string; url: string } }[] };
};

const unavailable = await postgresUnavailableReason();
const skip = unavailable !== undefined && process.env.CI !== 'true';
if (skip) console.warn(`[updraft tests] skipping "delta queue across replicas": ${unavailable}`);

// Replicas share one PostgreSQL schema and one blob directory (as they share a bucket in
// production); each has its own encoder loop. PostgreSQL only: SQLite is one process.
// Each test starts replicas (migrations, PKI): seconds on a quiet machine, more under load.
describe.skipIf(skip)('delta queue across replicas [postgres]', { timeout: 60_000 }, () => {
  let blobDir: string;
  let set: ReplicaSet;
  let admin: Record<string, string>;
  /** What replica `i` is built with (tests fill it in before `set.add()`). */
  const depsOf: Omit<ServerDeps, 'database' | 'masterKey'>[] = [];
  const firstTwo = countingEncoders(1000);

  beforeAll(async () => {
    // One blob directory for every replica, as they share a bucket in production.
    blobDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-delta-blobs-'));
    for (const i of [0, 1]) depsOf[i] = { deltaEncoder: firstTwo.encoder(i), deltaLimits: fast() };
    set = await startReplicas(2, {
      overrides: { blobs: { dir: blobDir } },
      deps: (i) => depsOf[i] ?? {},
    });
    // Made on replica 0 (which closes later), valid on every replica.
    admin = { ...(await set.adminHeaders()), 'content-type': 'application/json' };
  });
  afterAll(async () => {
    await set?.close();
    await rm(blobDir, { recursive: true, force: true });
  }, 120_000);

  /**
   * The delta workers of the replicas so far stop (no more claims), so the next test's replicas
   * are the only ones encoding; their apps stay up until the end.
   */
  const stopEarlierWorkers = () =>
    Promise.all(set.replicas.map((r) => r.app.wiring.deltas.close()));

  /**
   * A fleet of its own, releases 1.0.0 → 2.0.0 (fresh images) with deltas from 1.0.0, and an
   * action per device to 2.0.0.
   */
  const prepare = async (first: Replica, eager: boolean) => {
    const fleet = await seedFleet(first.app.updraft.db, { deviceCount: 2 });
    const v1 = randomBytes(60_000);
    const v2 = edited(v1);
    const r1 = await uploadRelease(first.app, admin, fleet, 1, [v1], '1.0.0');
    const r2 = await uploadRelease(first.app, admin, fleet, 2, [v2], '2.0.0');
    for (const d of fleet.devices) {
      const res = await first.app.inject({
        method: 'POST',
        url: '/api/v1/actions',
        headers: admin,
        payload: { deviceId: d.id, releaseId: r2 },
      });
      expect(res.statusCode).toBe(201);
    }
    const res = await first.app.inject({
      method: 'PUT',
      url: `/api/v1/releases/${r2}/delta-bases`,
      headers: admin,
      payload: { bases: [r1], anyInstalled: false, eager },
    });
    expect(res.statusCode).toBe(200);
    return { fleet, v1, v2 };
  };
  type Prepared = Awaited<ReturnType<typeof prepare>>;
  const checkIn = async (replica: Replica, p: Prepared, i: number) => {
    const res = await request(`${replica.url}/api/device/v1/check-in`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${p.fleet.devices[i]!.token}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ components: [{ id: COMPONENT, digest: sha(p.v1) }] }),
    });
    expect(res.status).toBe(200);
    return (JSON.parse(res.body.toString()) as Answer).action.payloads[0]!;
  };
  const row = (replica: Replica, p: Prepared) =>
    replica.app.updraft.db
      .selectFrom('deltas')
      .selectAll()
      .where('base_digest', '=', sha(p.v1))
      .where('target_digest', '=', sha(p.v2))
      .executeTakeFirst();
  /** The replica offers the patch, serves it, and it rebuilds v2 from v1. */
  const servesPatch = async (replica: Replica, p: Prepared, i: number) => {
    const payload = await checkIn(replica, p, i);
    expect(payload.delta).toBeDefined();
    const { status, body: patch } = await request(`${replica.url}${payload.delta!.url}`);
    expect(status).toBe(200);
    expect(sha(patch)).toBe(payload.delta!.patchDigest);
    expect(Buffer.from(await applyToBuffer(p.v1, patch)).equals(p.v2)).toBe(true);
    return payload.delta!.patchDigest;
  };

  it('encodes a patch asked for on two replicas at once exactly once; both offer and serve it', async () => {
    const [a, b] = set.replicas as [Replica, Replica];
    const p = await prepare(a, false);
    // Two devices on the base check in at the same moment, one on each replica.
    const first = await Promise.all([checkIn(a, p, 0), checkIn(b, p, 1)]);
    expect(first.map((x) => x.delta)).toEqual([undefined, undefined]);
    await expect.poll(async () => (await row(a, p))?.state, { timeout: 15_000 }).toBe('ready');
    expect(firstTwo.total()).toBe(1);
    expect(await row(a, p)).toMatchObject({ attempts: 1, claimed_by: null, lease_until: null });
    const digests = [await servesPatch(a, p, 0), await servesPatch(b, p, 1)];
    expect(digests[1]).toBe(digests[0]);
    // Both workers kept polling meanwhile; nobody encoded it again.
    await Promise.all([a.app.wiring.deltas.worker.idle(), b.app.wiring.deltas.worker.idle()]);
    expect(firstTwo.total()).toBe(1);
  });

  it("takes over the job of a replica that stopped renewing its lease (dead or hung), and the stale replica's late result is dropped", async () => {
    await stopEarlierWorkers();
    const blocked = blockingEncoder();
    const counting = countingEncoders(0);
    // This replica claims and then never renews: what the others see of a killed replica.
    depsOf[set.replicas.length] = {
      deltaEncoder: blocked.encoder,
      deltaLimits: fast({ renewEveryMs: HOUR }),
    };
    const stale = await set.add();
    const p = await prepare(stale, true);
    const budget = await blocked.started;
    expect(await row(stale, p)).toMatchObject({
      state: 'building',
      claimed_by: stale.app.wiring.deltas.owner,
      attempts: 1,
    });
    depsOf[set.replicas.length] = { deltaEncoder: counting.encoder(0), deltaLimits: fast() };
    const other = await set.add();
    await expect.poll(async () => (await row(other, p))?.state, { timeout: 15_000 }).toBe('ready');
    expect(counting.total()).toBe(1);
    const done = (await row(other, p))!;
    expect(done).toMatchObject({ attempts: 2, claimed_by: null });
    // The stale replica's encoding comes back late with another result: nothing of it is kept.
    expect(budget.signal?.aborted).toBe(false);
    const bogus = randomBytes(100);
    blocked.answer({ patch: bogus, kind: 'delta' });
    await expect
      .poll(() => stale.logs.some((l) => l.includes('delta lease lost')), { timeout: 10_000 })
      .toBe(true);
    expect(await row(stale, p)).toEqual(done);
    expect(await stale.app.updraft.blobs.head(sha(bogus))).toBeUndefined();
    // Either replica serves the patch the other made.
    expect(await servesPatch(stale, p, 0)).toBe(done.patch_digest);
    expect(await servesPatch(other, p, 1)).toBe(done.patch_digest);
  });

  it('hands the running job of a replica that closes to another at once', async () => {
    await stopEarlierWorkers();
    const blocked = blockingEncoder();
    const counting = countingEncoders(0);
    // A lease far longer than the test: only the give-back can free the job.
    depsOf[set.replicas.length] = {
      deltaEncoder: blocked.encoder,
      deltaLimits: fast({ leaseMs: HOUR }),
    };
    const leaving = await set.add();
    const p = await prepare(leaving, true);
    await blocked.started;
    depsOf[set.replicas.length] = { deltaEncoder: counting.encoder(0), deltaLimits: fast() };
    const other = await set.add();
    await leaving.close();
    await expect.poll(async () => (await row(other, p))?.state, { timeout: 15_000 }).toBe('ready');
    expect(counting.total()).toBe(1);
    // The interrupted claim was given back uncounted.
    expect(await row(other, p)).toMatchObject({ attempts: 1, claimed_by: null });
    await servesPatch(other, p, 0);
  });
});

describe.skipIf(skip)('delta claims with SKIP LOCKED [postgres]', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await openTestDatabase('postgres');
  });
  afterAll(async () => {
    await tdb?.dispose();
  });

  it('skips a job another replica is claiming right now instead of waiting for it', async () => {
    const { db, support } = tdb.handle;
    expect(support.supportsSkipLocked).toBe(true);
    const at = new Date().toISOString();
    const keys = [0, 1].map(() => ({
      tenantId: 'ten_q',
      baseDigest: randomBytes(32).toString('hex'),
      targetDigest: randomBytes(32).toString('hex'),
    }));
    for (const k of keys) await insertQueuedDelta(db, k, 10, at, 16);
    const claim = (owner: string, on = db) =>
      claimDelta(on, support, { owner, now: at, leaseUntil: '9999', maxAttempts: 3 });
    await db.transaction().execute(async (trx) => {
      // r1's claim is not committed yet: its row is locked.
      const first = await claim('r1', trx);
      const second = await claim('r2');
      expect(second).toBeDefined();
      expect(second!.targetDigest).not.toBe(first!.targetDigest);
      expect(await claim('r3')).toBeUndefined();
    });
    const owners = await db.selectFrom('deltas').select('claimed_by').execute();
    expect(owners.map((o) => o.claimed_by).sort()).toEqual(['r1', 'r2']);
  });
});
