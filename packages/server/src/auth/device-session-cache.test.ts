import { describe, expect, it } from 'vitest';
import { InMemoryDeviceChangeFeed } from '../testing/in-memory-device-change-feed.js';
import { type DeviceSession, DeviceSessionCache } from './device-session-cache.js';

const session = (deviceId: string, actionId: string | null = null): DeviceSession => ({
  principal: {
    kind: 'device',
    tenantId: 'ten_a',
    deviceId,
    deviceClassId: 'cls_1',
    credentialId: `dtk_${deviceId}`,
  },
  state: { reportDigest: 'd1', actionId },
});

function setup(options: { maxEntries?: number; maxAgeMs?: number } = {}) {
  // A hand-driven feed: the unit under test is the cache's bookkeeping, not the delivery.
  const feed = new InMemoryDeviceChangeFeed();
  feed.setLive(true);
  let now = 0;
  const cache = new DeviceSessionCache(feed, {
    maxEntries: options.maxEntries ?? 100,
    maxAgeMs: options.maxAgeMs ?? 60_000,
    clock: () => now,
  });
  return { feed, cache, advance: (ms: number) => (now += ms) };
}

describe('DeviceSessionCache', () => {
  it('returns a stored session until its device changes, then reads again', () => {
    const { cache, feed } = setup();
    cache.store('tok-1', session('dev_1'), cache.generation);
    cache.store('tok-2', session('dev_2'), cache.generation);
    expect(cache.get('tok-1')?.principal.deviceId).toBe('dev_1');
    feed.record('ten_a', 'dev_1');
    expect(cache.get('tok-1')).toBeUndefined();
    expect(cache.get('tok-2')?.principal.deviceId).toBe('dev_2');
    // Same device id in another tenant is another device.
    feed.record('ten_b', 'dev_2');
    expect(cache.get('tok-2')).toBeDefined();
  });

  it('drops every credential of a changed device (two tokens of one device)', () => {
    const { cache, feed } = setup();
    cache.store('tok-old', session('dev_1'), cache.generation);
    cache.store('tok-new', session('dev_1'), cache.generation);
    feed.announce('ten_a', 'dev_1');
    expect(cache.get('tok-old')).toBeUndefined();
    expect(cache.get('tok-new')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('drops everything when the feed reports that changes may have been missed', () => {
    const { cache, feed } = setup();
    cache.store('tok-1', session('dev_1'), cache.generation);
    cache.store('tok-2', session('dev_2'), cache.generation);
    feed.lost();
    expect(cache.size).toBe(0);
  });

  it('keeps nothing read while its device changed (the read may predate the change)', () => {
    const { cache, feed } = setup();
    const before = cache.generation;
    feed.announce('ten_a', 'dev_other'); // another device: no reason to refuse
    cache.store('tok-1', session('dev_1'), before);
    expect(cache.get('tok-1')).toBeDefined();
    const again = cache.generation;
    feed.announce('ten_a', 'dev_2');
    cache.store('tok-2', session('dev_2'), again);
    expect(cache.get('tok-2')).toBeUndefined();
    // A flush refuses every load that started before it.
    const beforeFlush = cache.generation;
    feed.lost();
    cache.store('tok-3', session('dev_3'), beforeFlush);
    expect(cache.get('tok-3')).toBeUndefined();
    cache.store('tok-3', session('dev_3'), cache.generation);
    expect(cache.get('tok-3')).toBeDefined();
  });

  it('refuses a load older than the changes it no longer remembers', () => {
    const { cache, feed } = setup({ maxEntries: 20_000 });
    const start = cache.generation;
    feed.announce('ten_a', 'dev_1'); // dev_1 changed after the load started…
    for (let i = 0; i < 10_000; i++) feed.announce('ten_a', `dev_x${i}`); // …and was forgotten
    cache.store('tok-1', session('dev_1'), start);
    expect(cache.get('tok-1')).toBeUndefined();
    // A load that started after the forgotten change is fine.
    const later = cache.generation;
    feed.announce('ten_a', 'dev_y');
    cache.store('tok-1', session('dev_1'), later);
    expect(cache.get('tok-1')).toBeDefined();
  });

  it('trusts and keeps nothing while the feed is not live', () => {
    const { cache, feed } = setup();
    cache.store('tok-1', session('dev_1'), cache.generation);
    feed.setLive(false);
    expect(cache.get('tok-1')).toBeUndefined();
    cache.store('tok-2', session('dev_2'), cache.generation);
    expect(cache.size).toBe(0);
    feed.setLive(true);
    expect(cache.get('tok-1')).toBeUndefined(); // dropped, not resurrected
  });

  it('reads a session again once it is older than maxAge', () => {
    const { cache, advance } = setup({ maxAgeMs: 1_000 });
    cache.store('tok-1', session('dev_1'), cache.generation);
    advance(1_000);
    expect(cache.get('tok-1')).toBeDefined();
    advance(1);
    expect(cache.get('tok-1')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('is bounded: the oldest stored session goes first; 0 entries turns it off', () => {
    const { cache, feed } = setup({ maxEntries: 2 });
    cache.store('tok-1', session('dev_1'), cache.generation);
    cache.store('tok-2', session('dev_2'), cache.generation);
    cache.store('tok-3', session('dev_3'), cache.generation);
    expect(cache.size).toBe(2);
    expect(cache.get('tok-1')).toBeUndefined();
    expect(cache.get('tok-3')).toBeDefined();
    // The evicted device's index entry went too: its change must not touch the others.
    feed.announce('ten_a', 'dev_1');
    expect(cache.size).toBe(2);
    const off = setup({ maxEntries: 0 }).cache;
    off.store('tok-1', session('dev_1'), off.generation);
    expect(off.get('tok-1')).toBeUndefined();
  });

  it('replaces a credential stored twice without leaking its index entry', () => {
    const { cache, feed } = setup();
    cache.store('tok-1', session('dev_1', null), cache.generation);
    cache.store('tok-1', session('dev_1', 'act_1'), cache.generation);
    expect(cache.size).toBe(1);
    expect(cache.get('tok-1')?.state.actionId).toBe('act_1');
    feed.announce('ten_a', 'dev_1');
    expect(cache.size).toBe(0);
  });

  it('keeps the index of a device exact as its credentials come and go one by one', () => {
    const { cache, feed, advance } = setup({ maxAgeMs: 1_000 });
    cache.store('tok-a', session('dev_1'), cache.generation);
    advance(600);
    cache.store('tok-b', session('dev_1'), cache.generation);
    cache.store('tok-other', session('dev_2'), cache.generation);
    // tok-a ages out alone: tok-b stays the device's credential, indexed.
    advance(600);
    expect(cache.get('tok-a')).toBeUndefined();
    expect(cache.get('tok-b')).toBeDefined();
    // A third credential after that: a change still drops every one of them, and only them.
    cache.store('tok-c', session('dev_1'), cache.generation);
    feed.announce('ten_a', 'dev_1');
    expect(cache.get('tok-b')).toBeUndefined();
    expect(cache.get('tok-c')).toBeUndefined();
    expect(cache.get('tok-other')).toBeDefined();
    expect(cache.size).toBe(1);
    // Nothing of dev_1 is left indexed: stored again, it is cached and dropped as new.
    cache.store('tok-d', session('dev_1'), cache.generation);
    expect(cache.size).toBe(2);
    feed.announce('ten_a', 'dev_1');
    expect(cache.size).toBe(1);
  });
});
