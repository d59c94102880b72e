import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerError } from '../errors.js';
import { InMemoryRateLimitStore } from '../testing/in-memory-rate-limit-store.js';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, TEST_ADMIN_PASSWORD, type TestServer } from '../testing/test-server.js';
import { ANONYMOUS_AUDIT_BUDGET } from './audit-hook.js';
import { createRateLimiter } from './create-rate-limiter.js';
import { addressKey, FixedWindowCounter, RateLimiter } from './rate-limit.js';

describe('FixedWindowCounter', () => {
  it('counts per key within a window and starts over when the window turns', () => {
    let now = 10_500;
    const counter = new FixedWindowCounter(1_000, () => now);
    expect([counter.hit('a'), counter.hit('a'), counter.hit('b')]).toEqual([1, 2, 1]);
    expect(counter.peek('a')).toBe(2);
    expect(counter.retryAfterSeconds()).toBe(1); // window ends at 11,000
    now = 11_000;
    expect(counter.peek('a')).toBe(0);
    expect(counter.hit('a')).toBe(1);
  });

  it('bounds its memory: past maxKeys new keys share one overflow count (never uncounted)', () => {
    const counter = new FixedWindowCounter(60_000, () => 0, 2);
    counter.hit('a');
    counter.hit('b');
    expect(counter.hit('c')).toBe(1);
    expect(counter.hit('d')).toBe(2); // c and d share the overflow key
    expect(counter.peek('e')).toBe(2);
    expect(counter.hit('a')).toBe(2);
    expect(counter.size).toBe(3);
  });
});

describe('addressKey', () => {
  it('keys IPv4 by address and IPv6 by its /64', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
  });
});

const NAT = '203.0.113.9';

// The limits count in fixed windows aligned to the clock: a test that counts exact answers must
// not straddle a window's turn, so these servers run on a clock frozen mid-window.
const midWindow = () => new Date('2026-06-01T12:00:30.000Z');

describeEachDialect('rate limits', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let classId: string;
  beforeAll(async () => {
    server = await createTestServer(
      dialect,
      {
        rateLimit: {
          enabled: true,
          perToken: 1_000,
          perDevice: 50,
          anonymous: 200,
          failedAuth: 20,
          failedLogins: 3,
          windowMs: 60_000,
        },
      },
      { now: midWindow },
    );
    admin = await server.adminHeaders();
    const cls = await server.app.inject({
      method: 'POST',
      url: '/api/v1/device-classes',
      headers: admin,
      payload: { name: 'nat-class', vendorName: 'example.com', modelName: 'nat' },
    });
    classId = cls.json().id;
  });
  afterAll(() => server?.close());

  const register = async (count: number, prefix: string) => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/devices/bulk',
      headers: admin,
      payload: {
        devices: Array.from({ length: count }, (_, i) => ({
          name: `${prefix}-${i}`,
          deviceClassId: classId,
        })),
      },
    });
    return (res.json().items as { device: { id: string }; token: string }[]).map((i) => ({
      id: i.device.id,
      token: i.token,
    }));
  };
  const checkIn = (token: string, remoteAddress = NAT) =>
    server.app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      remoteAddress,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: {},
    });

  it('keeps devices behind one NAT working while hundreds of decommissioned ones there keep failing', async () => {
    const healthy = await register(5, 'healthy');
    const retired = await register(300, 'retired');
    for (const device of retired) {
      const res = await server.app.inject({
        method: 'POST',
        url: `/api/v1/devices/${device.id}/decommission`,
        headers: admin,
      });
      expect(res.statusCode).toBeLessThan(300);
    }
    const failures: number[] = [];
    // Each retired device polls twice: 600 failures from the NAT, 30 × the failure budget.
    for (let round = 0; round < 2; round++) {
      for (const device of retired) failures.push((await checkIn(device.token)).statusCode);
      for (const device of healthy) expect((await checkIn(device.token)).statusCode).toBe(200);
    }
    // The first 20 failures are 401s; past the budget they are 429s (with Retry-After).
    expect(failures.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(failures.slice(20).every((s) => s === 429)).toBe(true);
    const refused = await checkIn(retired[0]!.token);
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.json()).toMatchObject({ code: 'HTTP_RATE_LIMITED' });
    // A valid admin token from that address still works; other addresses still get 401.
    const own = await server.app.inject({
      method: 'GET',
      url: '/api/v1/devices',
      remoteAddress: NAT,
      headers: admin,
    });
    expect(own.statusCode).toBe(200);
    expect((await checkIn(retired[0]!.token, '198.51.100.1')).statusCode).toBe(401);
    // Tokenless requests exhaust the NAT's address budget; a device's verified token on a public
    // route (signed downloads carry one) is still counted as that device, not as the address.
    const probe = (headers: Record<string, string>) =>
      server.app.inject({ method: 'GET', url: '/healthz', remoteAddress: NAT, headers });
    const anonymous: number[] = [];
    for (let i = 0; i < 201; i++) anonymous.push((await probe({})).statusCode);
    expect(anonymous.at(-1)).toBe(429);
    const fresh = (await register(1, 'fresh'))[0]!;
    for (let i = 0; i < 10; i++)
      expect((await probe({ authorization: `Bearer ${fresh.token}` })).statusCode).toBe(200);
    expect((await checkIn(fresh.token)).statusCode).toBe(200);
  });

  it('counts a verified token by its owner: one device over budget does not stop its neighbours', async () => {
    const [busy, quiet] = await register(2, 'budget');
    const codes: number[] = [];
    for (let i = 0; i < 51; i++)
      codes.push((await checkIn(busy!.token, '198.51.100.2')).statusCode);
    expect(codes.slice(0, 50).every((s) => s === 200)).toBe(true);
    expect(codes[50]).toBe(429);
    expect((await checkIn(quiet!.token, '198.51.100.2')).statusCode).toBe(200);
  });

  it('gives made-up tokens no budget of their own and no memory: they count against the address', async () => {
    const before = server.app.updraft.limiter.size;
    const codes: number[] = [];
    for (let i = 0; i < 500; i++) {
      const fake = `updraft_${i % 2 ? 'device' : 'api'}_${randomBytes(32).toString('base64url')}`;
      const res =
        i % 2
          ? await checkIn(fake, '198.51.100.3')
          : await server.app.inject({
              method: 'GET',
              url: '/api/v1/devices',
              remoteAddress: '198.51.100.3',
              headers: { authorization: `Bearer ${fake}` },
            });
      codes.push(res.statusCode);
    }
    expect(codes.slice(0, 20)).toEqual(Array(20).fill(401));
    expect(codes.slice(20)).toEqual(Array(480).fill(429));
    // One failure key for the address: 500 distinct tokens added no key each.
    expect(server.app.updraft.limiter.size - before).toBeLessThanOrEqual(2);
  });

  it('counts made-up tokens on public routes against the address too', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 201; i++) {
      const fake = `updraft_device_${randomBytes(32).toString('base64url')}`;
      codes.push(
        (
          await server.app.inject({
            method: 'GET',
            url: '/healthz',
            remoteAddress: '198.51.100.4',
            headers: { authorization: `Bearer ${fake}` },
          })
        ).statusCode,
      );
    }
    expect(codes.slice(0, 200).every((s) => s === 200)).toBe(true);
    expect(codes[200]).toBe(429);
  });

  it('locks one username out of one address after failed logins, not the user elsewhere', async () => {
    const login = (password: string, remoteAddress: string, username = 'admin') =>
      server.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress,
        payload: { username, password },
      });
    for (let i = 0; i < 3; i++)
      expect((await login('wrong-password-guess', '198.51.100.5')).statusCode).toBe(401);
    // Now refused before the password is checked, even the right one, from that address.
    const locked = await login(TEST_ADMIN_PASSWORD, '198.51.100.5');
    expect(locked.statusCode).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    // The same user from another address, and another user from that address, are not.
    expect((await login(TEST_ADMIN_PASSWORD, '198.51.100.6')).statusCode).toBe(200);
    expect((await login('wrong-password-guess', '198.51.100.5', 'someone')).statusCode).toBe(401);
  });

  it('holds the failed-login budget exactly under concurrent guesses', async () => {
    // Each attempt takes one of the budget before its password is checked, so guesses in
    // flight together cannot all pass a check made before any of them failed.
    const codes = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        server.app
          .inject({
            method: 'POST',
            url: '/api/v1/auth/login',
            remoteAddress: '198.51.100.8',
            payload: { username: 'admin', password: `wrong-guess-${i}` },
          })
          .then((r) => r.statusCode),
      ),
    );
    expect(codes.filter((c) => c === 401)).toHaveLength(3);
    expect(codes.filter((c) => c === 429)).toHaveLength(7);
    // The right password from elsewhere still works, and gives its attempt back each time.
    for (let i = 0; i < 5; i++) {
      const ok = await server.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress: '198.51.100.9',
        payload: { username: 'admin', password: TEST_ADMIN_PASSWORD },
      });
      expect(ok.statusCode).toBe(200);
    }
  });

  it('writes a bounded number of audit rows for junk logins', async () => {
    const ip = '198.51.100.7';
    const count = async () =>
      (
        await server.app.updraft.db
          .selectFrom('audit_log')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('ip', '=', ip)
          .executeTakeFirstOrThrow()
      ).n;
    for (let i = 0; i < 150; i++) {
      const res = await server.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress: ip,
        payload: { junk: i },
      });
      expect(res.statusCode).toBe(400);
    }
    // Entries are appended after each answer went out (onResponse), so the last may still be
    // on its way; the count can only grow, and must stop at the budget plus one suppressed row.
    await expect
      .poll(async () => Number(await count()))
      .toBe(ANONYMOUS_AUDIT_BUDGET.perAddress + 1);
    const last = await server.app.updraft.db
      .selectFrom('audit_log')
      .select(['action'])
      .where('ip', '=', ip)
      .where('action', '=', 'audit.suppressed')
      .execute();
    expect(last).toHaveLength(1);
  });
});

describeEachDialect('forwarded addresses', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(
      dialect,
      { trustProxy: ['10.0.0.5'], rateLimit: { enabled: true, anonymous: 2, windowMs: 60_000 } },
      { now: midWindow },
    );
  });
  afterAll(() => server?.close());

  const attempt = (remoteAddress: string, forwardedFor: string) =>
    server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      remoteAddress,
      headers: { 'x-forwarded-for': forwardedFor },
      payload: { junk: true },
    });
  const auditIps = async () =>
    (
      await server.app.updraft.db
        .selectFrom('audit_log')
        .select('ip')
        .where('actor_type', '=', 'anonymous')
        .execute()
    ).map((r) => r.ip);

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    // A client rotating made-up addresses is still limited and recorded as itself.
    const codes = [];
    for (let i = 0; i < 3; i++)
      codes.push((await attempt('192.0.2.50', `198.18.0.${i}`)).statusCode);
    expect(codes).toEqual([400, 400, 429]);
    // Failed requests are audited after the answer went out (onResponse): wait for all three.
    await expect
      .poll(async () => (await auditIps()).filter((ip) => ip === '192.0.2.50').length)
      .toBe(3);
    expect((await auditIps()).filter((ip) => ip?.startsWith('198.18.'))).toEqual([]);
  });

  it('believes X-Forwarded-For from a trusted proxy: each client behind it counts as itself', async () => {
    const codes = [];
    for (let i = 0; i < 3; i++)
      codes.push((await attempt('10.0.0.5', `192.0.2.${60 + i}`)).statusCode);
    expect(codes).toEqual([400, 400, 400]);
    // Audited after the answer went out (onResponse): wait until all three entries are there.
    await expect
      .poll(auditIps)
      .toEqual(expect.arrayContaining(['192.0.2.60', '192.0.2.61', '192.0.2.62']));
    expect((await auditIps()).filter((ip) => ip === '10.0.0.5')).toEqual([]);
  });
});

describe('RateLimiter', () => {
  it('holds a bounded number of keys under a flood of distinct addresses, and still limits them', () => {
    const limiter = new RateLimiter(
      {
        enabled: true,
        store: 'memory',
        syncIntervalMs: 250,
        windowMs: 60_000,
        perToken: 10,
        perDevice: 10,
        anonymous: 5,
        failedAuth: 5,
        failedLogins: 3,
      },
      () => 0,
      10,
    );
    let refused = 0;
    for (let i = 0; i < 10_000; i++) {
      if (limiter.anonymous(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)) refused++;
    }
    // 10 addresses with their own key, the other 9,990 share one overflow budget of 5.
    expect(limiter.size).toBeLessThanOrEqual(11);
    expect(refused).toBe(10_000 - 10 - 5);
  });
});

describe('RateLimiter with shared counts', () => {
  const limits = {
    enabled: true,
    store: 'database' as const,
    syncIntervalMs: 250,
    windowMs: 60_000,
    perToken: 10,
    perDevice: 10,
    anonymous: 5,
    failedAuth: 5,
    failedLogins: 2,
  };
  const silent = { warn: () => undefined, info: () => undefined };

  it('keeps limiting on its own counts when the database is unreachable (fails open, never blocks)', async () => {
    const store = new InMemoryRateLimitStore();
    store.failing = true;
    const warnings: string[] = [];
    const limiter = new RateLimiter(limits, () => 30_000, 100, {
      store,
      logger: { warn: (_o, msg) => warnings.push(msg), info: () => undefined },
    });
    const codes = [];
    for (let i = 0; i < 8; i++) {
      codes.push(limiter.anonymous('192.0.2.1') ? 429 : 200);
      await limiter.syncNow();
    }
    expect(codes).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(limiter.syncStats).toEqual({ ok: 0, failed: 8 });
    expect(warnings).toHaveLength(1);
    // Logins need the database anyway: their attempt fails with it (a 500), it is not waved through.
    await expect(limiter.loginAttempt('192.0.2.1', '/admin')).rejects.toThrow('store unreachable');
  });

  it('adds two replicas’ hits up through the store', async () => {
    const store = new InMemoryRateLimitStore();
    const [a, b] = [1, 2].map(
      () => new RateLimiter(limits, () => 30_000, 100, { store, logger: silent }),
    ) as [RateLimiter, RateLimiter];
    for (let i = 0; i < 3; i++) expect(a.verified({ kind: 'device', id: 'd1' })).toBeUndefined();
    for (let i = 0; i < 3; i++) expect(b.verified({ kind: 'device', id: 'd1' })).toBeUndefined();
    await a.syncNow();
    await b.syncNow();
    // b learnt a's hits: 4 more of 10 pass there (alone it would allow 7).
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push(b.verified({ kind: 'device', id: 'd1' }) ? 429 : 200);
    expect(codes).toEqual([200, 200, 200, 200, 429]);
    // a still decides on what it learnt at its last sync until it syncs again (the slack).
    expect(a.verified({ kind: 'device', id: 'd1' })).toBeUndefined();
    await b.syncNow();
    await a.syncNow();
    expect(a.verified({ kind: 'device', id: 'd1' })).toMatchObject({ code: 'HTTP_RATE_LIMITED' });
  });

  it('counts login attempts in the store itself: exact across replicas, right passwords give theirs back', async () => {
    const store = new InMemoryRateLimitStore();
    const [a, b] = [1, 2].map(
      () => new RateLimiter(limits, () => 30_000, 100, { store, logger: silent }),
    ) as [RateLimiter, RateLimiter];
    const failure = new ServerError('AUTH_INVALID_CREDENTIALS', 'no');
    (await a.loginAttempt('192.0.2.2', '/admin')).failed(failure);
    await (await b.loginAttempt('192.0.2.2', '/admin')).succeeded();
    (await b.loginAttempt('192.0.2.2', '/admin')).failed(failure);
    await expect(a.loginAttempt('192.0.2.2', '/admin')).rejects.toMatchObject({
      code: 'HTTP_RATE_LIMITED',
    });
    await expect(b.loginAttempt('192.0.2.2', '/admin')).rejects.toMatchObject({
      code: 'HTTP_RATE_LIMITED',
    });
    // Two failures counted; refusals gave their attempts back.
    expect(store.count('1970-01-01T00:00:00.000Z', 'l:login:192.0.2.2:/admin')).toBe(2);
  });
});

describe('createRateLimiter', () => {
  const database = (supportsConcurrentWriters: boolean) =>
    ({ db: {}, support: { supportsConcurrentWriters, supportsArrayParameters: false } }) as never;
  const limits = (store: 'auto' | 'memory' | 'database') => ({
    enabled: true,
    store,
    syncIntervalMs: 250,
    windowMs: 60_000,
    perToken: 1,
    perDevice: 1,
    anonymous: 1,
    failedAuth: 1,
    failedLogins: 1,
  });
  const silent = { warn: () => undefined, info: () => undefined };

  it('shares the counts through the database when asked, or by default where it serves several processes', () => {
    expect(createRateLimiter(limits('auto'), database(true), Date.now, silent).shared).toBe(true);
    expect(createRateLimiter(limits('auto'), database(false), Date.now, silent).shared).toBe(false);
    expect(createRateLimiter(limits('memory'), database(true), Date.now, silent).shared).toBe(
      false,
    );
    expect(createRateLimiter(limits('database'), database(true), Date.now, silent).shared).toBe(
      true,
    );
    const off = { ...limits('database'), enabled: false };
    expect(createRateLimiter(off, database(true), Date.now, silent).shared).toBe(false);
  });
});
