import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Replica, type ReplicaSet, startReplicas } from '../testing/replicas.js';
import { postgresUnavailableReason } from '../testing/test-database.js';
import { TEST_ADMIN_PASSWORD } from '../testing/test-server.js';

// Two replicas on one PostgreSQL schema with `rateLimit.store: auto` (= database there), over
// real HTTP on loopback. A replica syncs every 50 ms, so a client may exceed a budget by what it
// sends to each replica in about one interval (docs/deployment.md, "Rate limits across replicas"): the
// requests here are paced 20 ms apart, and the bound allowed is that slack with room for a slow
// machine; the in-memory store would let through twice the budget.
const unavailable = await postgresUnavailableReason();
if (unavailable !== undefined && process.env.CI !== 'true')
  console.warn(`[updraft tests] skipping "rate limits across replicas": ${unavailable}`);

const BUDGET = { anonymous: 50, perDevice: 40, failedLogins: 3 };
const SLACK = 20;
const PACE_MS = 20;
// Fixed windows turn with the clock: freeze it mid-window so no count resets under a test.
const midWindow = () => new Date('2026-06-01T12:00:30.000Z');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(unavailable !== undefined && process.env.CI !== 'true')(
  'rate limits across replicas',
  () => {
    let set: ReplicaSet;
    let a: Replica;
    let b: Replica;
    beforeAll(async () => {
      set = await startReplicas(2, {
        overrides: {
          // The test's client is 127.0.0.1: each test names its own client address.
          trustProxy: ['127.0.0.1'],
          rateLimit: {
            enabled: true,
            store: 'auto',
            syncIntervalMs: 50,
            windowMs: 60_000,
            anonymous: BUDGET.anonymous,
            perDevice: BUDGET.perDevice,
            perToken: 100_000,
            failedAuth: 100_000,
            failedLogins: BUDGET.failedLogins,
          },
        },
        deps: () => ({ now: midWindow }),
      });
      [a, b] = set.replicas as [Replica, Replica];
    });
    afterAll(() => set?.close());

    /** Sends `count` requests alternating between the replicas, paced; the status codes. */
    const alternate = async (
      count: number,
      send: (replica: Replica) => Promise<Response>,
      replicas = [a, b],
    ) => {
      const codes: number[] = [];
      for (let i = 0; i < count; i++) {
        const res = await send(replicas[i % replicas.length]!);
        await res.arrayBuffer();
        codes.push(res.status);
        await sleep(PACE_MS);
      }
      return codes;
    };
    const probe = (client: string) => (replica: Replica) =>
      fetch(`${replica.url}/healthz`, { headers: { 'x-forwarded-for': client } });
    const sharedCount = async (key: string) => {
      const row = await a.app.updraft.db
        .selectFrom('rate_limit_counts')
        .select('count')
        .where('key', '=', key)
        .executeTakeFirst();
      return Number(row?.count ?? 0);
    };

    it('refuses anonymous requests alternated between replicas once the shared budget is used', async () => {
      const codes = await alternate(2 * BUDGET.anonymous, probe('198.51.100.10'));
      const allowed = codes.filter((c) => c === 200).length;
      // Never refused before the budget (a replica only knows fewer hits than there were), and
      // never more than the slack past it (each replica alone would allow the whole budget).
      expect(codes.slice(0, BUDGET.anonymous)).toEqual(Array(BUDGET.anonymous).fill(200));
      expect(allowed).toBeLessThanOrEqual(BUDGET.anonymous + SLACK);
      expect(codes.slice(-10)).toEqual(Array(10).fill(429));
      expect(codes.filter((c) => c !== 200 && c !== 429)).toEqual([]);
      // Every request was counted once in the shared table.
      await Promise.all([a.app.updraft.limiter.syncNow(), b.app.updraft.limiter.syncNow()]);
      expect(await sharedCount('r:ip:198.51.100.10')).toBe(2 * BUDGET.anonymous);
      const metrics = await (await fetch(`${a.url}/metrics`)).text();
      expect(metrics).toMatch(/updraft_rate_limit_syncs_total\{result="ok"\} [1-9]/);
    });

    it('lets a replica started later see the counts of the window', async () => {
      // 198.51.100.10 used its budget in the previous test; a new replica learns that at its
      // first sync of the key, so it lets through at most what arrives before that sync.
      const c = await set.add();
      const codes = await alternate(20, probe('198.51.100.10'), [c]);
      expect(codes.filter((s) => s === 200).length).toBeLessThanOrEqual(SLACK / 2);
      expect(codes.slice(-10)).toEqual(Array(10).fill(429));
      // Another address is not affected there.
      expect((await probe('198.51.100.11')(c)).status).toBe(200);
      await c.close();
    });

    it('holds a device’s budget across replicas', async () => {
      const admin = await set.adminHeaders();
      const post = async <T>(path: string, body: unknown): Promise<T> =>
        (await (
          await fetch(`${a.url}${path}`, {
            method: 'POST',
            headers: { ...admin, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          })
        ).json()) as T;
      const cls = await post<{ id: string }>('/api/v1/device-classes', {
        name: 'rl-class',
        vendorName: 'example.com',
        modelName: 'rl',
      });
      const bulk = await post<{ items: { token: string }[] }>('/api/v1/devices/bulk', {
        devices: [
          { name: 'rl-busy', deviceClassId: cls.id },
          { name: 'rl-quiet', deviceClassId: cls.id },
        ],
      });
      const [busy, quiet] = bulk.items.map((i) => i.token);
      const checkIn = (token: string) => (replica: Replica) =>
        fetch(`${replica.url}/api/device/v1/check-in`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'x-forwarded-for': '198.51.100.20',
          },
          body: '{}',
        });
      const codes = await alternate(2 * BUDGET.perDevice, checkIn(busy!));
      expect(codes.slice(0, BUDGET.perDevice)).toEqual(Array(BUDGET.perDevice).fill(200));
      expect(codes.filter((c) => c === 200).length).toBeLessThanOrEqual(BUDGET.perDevice + SLACK);
      expect(codes.slice(-10)).toEqual(Array(10).fill(429));
      // Its neighbour behind the same address keeps its own budget on both replicas.
      expect((await checkIn(quiet!)(a)).status).toBe(200);
      expect((await checkIn(quiet!)(b)).status).toBe(200);
    });

    const login = (client: string, password: string) => (replica: Replica) =>
      fetch(`${replica.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
        body: JSON.stringify({ username: 'admin', password }),
      });

    it('refuses failed logins alternated between replicas exactly at the budget', async () => {
      const wrong = await alternate(BUDGET.failedLogins, login('198.51.100.30', 'wrong-guess-123'));
      expect(wrong).toEqual(Array(BUDGET.failedLogins).fill(401));
      // The next attempt is refused on either replica before the password is checked.
      expect((await login('198.51.100.30', TEST_ADMIN_PASSWORD)(b)).status).toBe(429);
      expect((await login('198.51.100.30', TEST_ADMIN_PASSWORD)(a)).status).toBe(429);
      expect((await login('198.51.100.31', TEST_ADMIN_PASSWORD)(a)).status).toBe(200);
      // A right password gives its attempt back: logging in does not use up the budget.
      for (let i = 0; i < BUDGET.failedLogins + 2; i++)
        expect((await login('198.51.100.31', TEST_ADMIN_PASSWORD)(i % 2 ? a : b)).status).toBe(200);
    });

    it('holds the login budget exactly under concurrent guesses on both replicas', async () => {
      const guesses = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          login('198.51.100.32', `wrong-guess-${i}`)(i % 2 ? a : b).then((r) => r.status),
        ),
      );
      expect(guesses.filter((s) => s === 401)).toHaveLength(BUDGET.failedLogins);
      expect(guesses.filter((s) => s === 429)).toHaveLength(12 - BUDGET.failedLogins);
    });
  },
);
