import { deviceTopicRoot, type PushEndpoint } from '@updraft/core';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { DeviceChangeFeed } from '../ports/device-change-feed.js';

const MAX_CACHED = 100_000;

/**
 * The `push` part of a device's check-in answer (broker URL and topic root). The topic root needs
 * the device's name, which the check-in does not read otherwise: cached per device (bounded),
 * dropped when the device changes (the feed watches `devices.name`).
 */
export class PushEndpoints {
  readonly #roots = new Map<string, string>();

  constructor(
    private readonly db: Kysely<Database>,
    /** The broker URL devices are told (`mqtt.publicUrl` or derived). */
    private readonly url: () => string,
    changes: Pick<DeviceChangeFeed, 'subscribe'>,
  ) {
    changes.subscribe((change) => {
      if (change === null) this.#roots.clear();
      else this.#roots.delete(`${change.tenantId}/${change.deviceId}`);
    });
  }

  /** The device's endpoint; `undefined` when the device is gone. */
  async of(tenantId: string, deviceId: string): Promise<PushEndpoint | undefined> {
    const key = `${tenantId}/${deviceId}`;
    let topicRoot = this.#roots.get(key);
    if (topicRoot === undefined) {
      const row = await this.db
        .selectFrom('devices')
        .select('name')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', deviceId)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      topicRoot = deviceTopicRoot(tenantId, row.name);
      if (this.#roots.size >= MAX_CACHED) this.#roots.clear();
      this.#roots.set(key, topicRoot);
    }
    return { url: this.url(), topicRoot };
  }
}
