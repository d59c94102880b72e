import { describe, expect, it } from 'vitest';
import { InMemoryRateLimitStore } from '../testing/in-memory-rate-limit-store.js';
import { RateLimitSynchroniser } from './rate-limit-synchroniser.js';
import { SharedWindowCounter } from './shared-window-counter.js';

function setup(intervalMs = 60_000) {
  const store = new InMemoryRateLimitStore();
  const clock = { now: 60_500 };
  const logged: { level: string; msg: string }[] = [];
  const requests = new SharedWindowCounter('r:', store, 60_000, () => clock.now);
  const failures = new SharedWindowCounter('f:', store, 60_000, () => clock.now);
  const sync = new RateLimitSynchroniser({
    store,
    counters: [requests, failures],
    intervalMs,
    windowMs: 60_000,
    clock: () => clock.now,
    logger: {
      warn: (_obj, msg) => logged.push({ level: 'warn', msg }),
      info: (_obj, msg) => logged.push({ level: 'info', msg }),
    },
  });
  return { store, clock, logged, requests, failures, sync };
}

describe('RateLimitSynchroniser', () => {
  it('shares every counter under its own namespace', async () => {
    const { store, requests, failures, sync } = setup();
    requests.hit('ip:192.0.2.1');
    failures.hit('ip:192.0.2.1');
    failures.hit('ip:192.0.2.1');
    await sync.syncNow();
    const window = '1970-01-01T00:01:00.000Z';
    expect(store.count(window, 'r:ip:192.0.2.1')).toBe(1);
    expect(store.count(window, 'f:ip:192.0.2.1')).toBe(2);
    expect(sync.stats).toEqual({ ok: 1, failed: 0 });
  });

  it('deletes past windows once per window', async () => {
    const { store, clock, requests, sync } = setup();
    requests.hit('k');
    await sync.syncNow();
    await sync.syncNow();
    expect(store.deletes).toEqual(['1970-01-01T00:01:00.000Z']);
    clock.now = 125_000;
    requests.hit('k');
    await sync.syncNow();
    await sync.syncNow();
    expect(store.deletes).toEqual(['1970-01-01T00:01:00.000Z', '1970-01-01T00:02:00.000Z']);
    expect([...store.counts.keys()]).toEqual(['1970-01-01T00:02:00.000Z r:k']);
  });

  it('never runs two passes at once', async () => {
    const { store, requests, sync } = setup();
    requests.hit('k');
    const release = store.hold();
    const first = sync.syncNow();
    expect(sync.syncNow()).toBe(first);
    release();
    await first;
    expect(store.calls).toHaveLength(1);
  });

  it('fails open: one warning per outage, counted, and an info line when sharing resumes', async () => {
    const { store, logged, requests, sync } = setup();
    store.failing = true;
    requests.hit('k');
    await sync.syncNow(); // never rejects
    requests.hit('k');
    await sync.syncNow();
    expect(sync.stats).toEqual({ ok: 0, failed: 2 });
    expect(logged.map((l) => l.level)).toEqual(['warn']);
    expect(requests.peek('k')).toBe(2);
    store.failing = false;
    await sync.syncNow();
    expect(logged.map((l) => l.level)).toEqual(['warn', 'info']);
    expect(store.count('1970-01-01T00:01:00.000Z', 'r:k')).toBe(2);
    expect(sync.stats).toEqual({ ok: 1, failed: 2 });
  });

  it('runs on its timer once started, and sends what is left when closed', async () => {
    const { store, requests, sync } = setup(20);
    sync.start();
    requests.hit('k');
    await expect.poll(() => store.count('1970-01-01T00:01:00.000Z', 'r:k')).toBe(1);
    requests.hit('k');
    await sync.close();
    expect(store.count('1970-01-01T00:01:00.000Z', 'r:k')).toBe(2);
    const passes = sync.stats.ok;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sync.stats.ok).toBe(passes); // stopped
  });

  it('does not hang closing when the store never answers', async () => {
    const { store, requests, sync } = setup();
    requests.hit('k');
    store.hold(); // never released
    const started = Date.now();
    await sync.close();
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
