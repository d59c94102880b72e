import { describe, expect, it } from 'vitest';
import { RATE_LIMIT_STORE_BATCH } from '../ports/rate-limit-store.js';
import { InMemoryRateLimitStore } from '../testing/in-memory-rate-limit-store.js';
import { SharedWindowCounter } from './shared-window-counter.js';
import { OVERFLOW_KEY } from './window-counter.js';

const WINDOW = '1970-01-01T00:01:00.000Z'; // the window [60 s, 120 s)

/** Two replicas' counters on one store and one clock. */
function replicas(maxKeys = 100) {
  const store = new InMemoryRateLimitStore();
  const clock = { now: 60_500 };
  const make = () => new SharedWindowCounter('r:', store, 60_000, () => clock.now, maxKeys);
  return { store, clock, a: make(), b: make() };
}

describe('SharedWindowCounter', () => {
  it('decides on the last shared total plus its own unsynced hits', async () => {
    const { store, a, b } = replicas();
    for (let i = 0; i < 3; i++) a.hit('k');
    for (let i = 0; i < 2; i++) b.hit('k');
    // Nothing shared yet: each replica sees only its own hits.
    expect([a.peek('k'), b.peek('k')]).toEqual([3, 2]);
    await a.sync();
    expect(store.count(WINDOW, 'r:k')).toBe(3);
    await b.sync();
    expect(store.count(WINDOW, 'r:k')).toBe(5);
    // b learnt the total; a learns it at its next sync of that key.
    expect(b.peek('k')).toBe(5);
    expect(a.hit('k')).toBe(4);
    await a.sync();
    expect(a.peek('k')).toBe(6);
    expect(b.hit('k')).toBe(6);
    expect(a.hit('k')).toBe(7);
  });

  it('sends only keys hit since the last sync, and each hit once', async () => {
    const { store, a } = replicas();
    a.hit('x');
    a.hit('y');
    expect(await a.sync()).toBe(2);
    expect(await a.sync()).toBe(0);
    a.hit('y');
    expect(await a.sync()).toBe(1);
    expect(store.calls.map((c) => c.keys)).toEqual([['r:x', 'r:y'], ['r:y']]);
    expect([store.count(WINDOW, 'r:x'), store.count(WINDOW, 'r:y')]).toEqual([1, 2]);
  });

  it('keeps hits made while a sync is under way for the next one', async () => {
    const { store, a } = replicas();
    a.hit('k');
    const release = store.hold();
    const syncing = a.sync();
    expect(a.hit('k')).toBe(2);
    expect(a.hit('k')).toBe(3);
    release();
    await syncing;
    expect(store.count(WINDOW, 'r:k')).toBe(1);
    expect(a.peek('k')).toBe(3); // shared 1 + 2 unsynced
    await a.sync();
    expect(store.count(WINDOW, 'r:k')).toBe(3);
    expect(a.peek('k')).toBe(3);
  });

  it('keeps counting locally when the store fails, and sends everything once it answers', async () => {
    const { store, a } = replicas();
    for (let i = 0; i < 4; i++) a.hit('k');
    store.failing = true;
    await expect(a.sync()).rejects.toThrow('store unreachable');
    expect(a.hit('k')).toBe(5);
    await expect(a.sync()).rejects.toThrow();
    store.failing = false;
    await a.sync();
    expect(store.count(WINDOW, 'r:k')).toBe(5);
    expect(a.peek('k')).toBe(5);
  });

  it('sends big batches in bounded statements with keys sorted', async () => {
    const { store, a } = replicas(5_000);
    const n = RATE_LIMIT_STORE_BATCH * 2 + 7;
    for (let i = n - 1; i >= 0; i--) a.hit(`ip:${i}`);
    expect(await a.sync()).toBe(n);
    expect(store.calls.map((c) => c.keys.length)).toEqual([
      RATE_LIMIT_STORE_BATCH,
      RATE_LIMIT_STORE_BATCH,
      7,
    ]);
    const sent = store.calls.flatMap((c) => c.keys);
    expect(sent).toEqual([...sent].sort());
    expect(new Set(sent).size).toBe(n);
  });

  it('stops at a failed statement and resends only what was not stored', async () => {
    const { store, a } = replicas(5_000);
    for (let i = 0; i < RATE_LIMIT_STORE_BATCH + 10; i++) a.hit(`k${String(i).padStart(5, '0')}`);
    const add = store.add.bind(store);
    let calls = 0;
    store.add = async (window, increments) => {
      if (++calls === 2) throw new Error('connection lost');
      return add(window, increments);
    };
    await expect(a.sync()).rejects.toThrow('connection lost');
    expect(await a.sync()).toBe(10);
    const total = [...store.counts.values()].reduce((x, y) => x + y, 0);
    expect(total).toBe(RATE_LIMIT_STORE_BATCH + 10); // every hit stored exactly once
  });

  it('bounds its keys: past maxKeys new keys share the overflow key, shared across replicas too', async () => {
    const { store, a, b } = replicas(2);
    a.hit('a1');
    a.hit('a2');
    expect(a.hit('a3')).toBe(1);
    expect(a.hit('a4')).toBe(2); // a3 and a4 share the overflow key
    expect(a.peek('a5')).toBe(2);
    expect(a.size).toBe(3);
    b.hit('b1');
    b.hit('b2');
    expect(b.hit('b3')).toBe(1);
    await a.sync();
    await b.sync();
    expect(store.count(WINDOW, `r:${OVERFLOW_KEY}`)).toBe(3);
    expect(b.hit('b9')).toBe(4);
    expect(b.size).toBe(3);
  });

  it('starts over when the window turns, and drops what a sync of the old window learns', async () => {
    const { store, clock, a } = replicas();
    a.hit('k');
    a.hit('k');
    await a.sync();
    a.hit('k');
    const release = store.hold();
    const syncing = a.sync();
    clock.now = 120_000; // the next window
    expect(a.peek('k')).toBe(0);
    expect(a.hit('k')).toBe(1);
    release();
    await syncing;
    expect(a.peek('k')).toBe(1); // the old window's total (3) did not leak into the new one
    expect(a.retryAfterSeconds()).toBe(60);
    await a.sync();
    expect(store.count('1970-01-01T00:02:00.000Z', 'r:k')).toBe(1);
    expect(store.count(WINDOW, 'r:k')).toBe(3);
  });
});
