import { deviceTopicRoot, type PushEndpoint } from '@updraft/core';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { DeviceChangeFeed } from '../ports/device-change-feed.js';

/** Default bound: the default of `device.sessionCacheEntries`, which sizes it in a server. */
const MAX_CACHED = 100_000;

/**
 * The `push` part of a device's check-in answer (broker URL and topic root). The topic root needs
 * the device's name, which the check-in does not read otherwise: cached per device (bounded),
 * dropped when the device changes (the feed watches `devices.name`). The same object is returned
 * while URL and root hold, so a check-in can memoise what it derives from it (its idle ETag).
 */
export class PushEndpoints {
  readonly #endpoints = new Map<string, PushEndpoint>();

  constructor(
    private readonly db: Kysely<Database>,
    /**
     * The broker URL devices are told; `undefined` while there is none (embedded, not listening).
     * Return the same string each time: every cached endpoint keeps what it returns.
     */
    private readonly url: () => string | undefined,
    changes: Pick<DeviceChangeFeed, 'subscribe'>,
    /** Most devices kept (the oldest go first); a fleet larger than this reads names again. */
    private readonly maxEntries = MAX_CACHED,
  ) {
    changes.subscribe((change) => {
      if (change === null) this.#endpoints.clear();
      else this.#endpoints.delete(`${change.tenantId}/${change.deviceId}`);
    });
  }

  /**
   * The device's endpoint; `undefined` when the device is gone or no broker is up. `knownName`,
   * the device's name when the caller read it already (with the credential), saves the lookup.
   */
  async of(
    tenantId: string,
    deviceId: string,
    knownName?: string,
  ): Promise<PushEndpoint | undefined> {
    const url = this.url();
    if (url === undefined) return undefined;
    const key = `${tenantId}/${deviceId}`;
    const cached = this.#endpoints.get(key);
    if (cached?.url === url) return cached;
    let topicRoot = cached?.topicRoot;
    if (topicRoot === undefined) {
      const name =
        knownName ??
        (
          await this.db
            .selectFrom('devices')
            .select('name')
            .where('tenant_id', '=', tenantId)
            .where('id', '=', deviceId)
            .executeTakeFirst()
        )?.name;
      if (name === undefined) return undefined;
      topicRoot = deviceTopicRoot(tenantId, name);
      // The oldest entry goes (a Map iterates in insertion order): one at a time, never the lot.
      if (this.#endpoints.size >= this.maxEntries) {
        const oldest = this.#endpoints.keys().next();
        if (oldest.done !== true) this.#endpoints.delete(oldest.value);
      }
    }
    const endpoint = { url, topicRoot };
    this.#endpoints.set(key, endpoint);
    return endpoint;
  }
}
