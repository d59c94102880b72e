import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceChange, DeviceChangeFeed } from '../ports/device-change-feed.js';

/** A device as the feed names it. */
export interface FeedDevice {
  readonly tenantId: string;
  readonly deviceId: string;
}

/** One fresh, not yet started feed over its own backing store, and ways to write to that store. */
export interface DeviceChangeFeedHarness {
  readonly feed: DeviceChangeFeed;
  /** At least two devices the store holds. */
  readonly devices: readonly FeedDevice[];
  /** Commits a change the feed watches (a revoked token), written to the store, not the feed. */
  commitChange(device: FeedDevice): Promise<void>;
  /** Commits a write that changes nothing a device session holds (last seen). */
  commitQuietWrite(device: FeedDevice): Promise<void>;
  /** Makes a watched change in a transaction that rolls back. */
  rollBackChange(device: FeedDevice): Promise<void>;
  dispose(): Promise<void>;
}

/** How the contract gets a harness, and what the backend promises about rolled-back writes. */
export interface DeviceChangeFeedContractOptions {
  create(): Promise<DeviceChangeFeedHarness>;
  /**
   * True when changes are reported on commit only (PostgreSQL's NOTIFY, the in-memory feed).
   * False when they are reported from inside the writing statement (SQLite's triggers): then a
   * rolled-back change is reported exactly once — an extra session drop, never a missed change.
   */
  readonly notifiesOnCommitOnly: boolean;
}

/**
 * The behaviour every {@link DeviceChangeFeed} must show. Each implementation's test calls this.
 *
 * @example
 * runDeviceChangeFeedContract('in-memory', { notifiesOnCommitOnly: true, create: async () => … });
 */
export function runDeviceChangeFeedContract(
  name: string,
  options: DeviceChangeFeedContractOptions,
): void {
  describe(`DeviceChangeFeed contract: ${name}`, () => {
    let h: DeviceChangeFeedHarness;
    let a: FeedDevice;
    let b: FeedDevice;
    beforeEach(async () => {
      h = await options.create();
      [a, b] = h.devices as [FeedDevice, FeedDevice];
    });
    afterEach(async () => {
      await h?.feed.close();
      await h?.dispose();
    });

    /** Starts the feed with one recording listener. */
    const started = async () => {
      const heard: DeviceChange[] = [];
      await h.feed.start();
      h.feed.subscribe((change) => heard.push(change));
      return heard;
    };

    it('is not live before start, live after; start is idempotent', async () => {
      expect(h.feed.live).toBe(false);
      await h.feed.start();
      expect(h.feed.live).toBe(true);
      await h.feed.start();
      expect(h.feed.live).toBe(true);
    });

    it('has told every listener of a committed change once settled() resolves, exactly once', async () => {
      const heard = await started();
      const second: DeviceChange[] = [];
      h.feed.subscribe((change) => second.push(change));
      await h.commitChange(a);
      await h.feed.settled();
      expect(heard).toEqual([a]);
      expect(second).toEqual([a]);
      await h.feed.settled();
      expect(heard).toEqual([a]);
    });

    it('reports changes in commit order', async () => {
      const heard = await started();
      await h.commitChange(a);
      await h.commitChange(b);
      await h.commitChange(a);
      await h.feed.settled();
      expect(heard).toEqual([a, b, a]);
    });

    it('delivers an announcement before announce() returns (read-your-writes)', async () => {
      const heard = await started();
      h.feed.announce(b.tenantId, b.deviceId);
      expect(heard).toEqual([b]);
    });

    it('stops telling a listener once it unsubscribed', async () => {
      await h.feed.start();
      const heard: DeviceChange[] = [];
      const unsubscribe = h.feed.subscribe((change) => heard.push(change));
      unsubscribe();
      await h.commitChange(a);
      h.feed.announce(a.tenantId, a.deviceId);
      await h.feed.settled();
      expect(heard).toEqual([]);
    });

    it('reports nothing for a write that changes no session', async () => {
      const heard = await started();
      await h.commitQuietWrite(a);
      await h.feed.settled();
      expect(heard).toEqual([]);
    });

    it(
      options.notifiesOnCommitOnly
        ? 'reports nothing for a rolled-back change'
        : 'reports a rolled-back change exactly once (an extra drop, never a missed change)',
      async () => {
        const heard = await started();
        await h.rollBackChange(b);
        await h.feed.settled();
        expect(heard).toEqual(options.notifiesOnCommitOnly ? [] : [b]);
      },
    );
  });
}
