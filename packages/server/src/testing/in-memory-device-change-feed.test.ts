import { runDeviceChangeFeedContract } from './device-change-feed.contract.js';
import { InMemoryDeviceChangeFeed } from './in-memory-device-change-feed.js';

runDeviceChangeFeedContract('InMemoryDeviceChangeFeed', {
  notifiesOnCommitOnly: true,
  create: async () => {
    const feed = new InMemoryDeviceChangeFeed();
    return {
      feed,
      devices: [
        { tenantId: 'ten_a', deviceId: 'dev_1' },
        { tenantId: 'ten_b', deviceId: 'dev_2' },
      ],
      commitChange: async (d) => feed.record(d.tenantId, d.deviceId),
      // No store behind it: a quiet write and a rolled-back one never reach the feed.
      commitQuietWrite: async () => {},
      rollBackChange: async () => {},
      dispose: async () => {},
    };
  },
});
