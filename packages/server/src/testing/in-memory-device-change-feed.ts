import { ListenerSet } from '../db/device-changes.js';
import type { DeviceChangeFeed } from '../ports/device-change-feed.js';

/**
 * A {@link DeviceChangeFeed} without a database, for unit tests of its consumers (the device
 * session cache): {@link record} stands for a committed write that a database trigger would
 * report. Delivery is synchronous, so {@link settled} has nothing to wait for. Passes the same
 * contract suite as the SQLite and PostgreSQL feeds.
 */
export class InMemoryDeviceChangeFeed extends ListenerSet implements DeviceChangeFeed {
  #started = false;

  get live(): boolean {
    return this.#started;
  }

  async start(): Promise<void> {
    this.#started = true;
  }

  /** A write committed elsewhere changed this device (heard only once started, like a trigger). */
  record(tenantId: string, deviceId: string): void {
    if (this.#started) this.emit({ tenantId, deviceId });
  }

  /** Anything may have changed (what a feed reports after it missed notifications). */
  lost(): void {
    this.emit(null);
  }

  /** Goes live or not at once (a database feed's listening connection came back or dropped). */
  setLive(live: boolean): void {
    this.#started = live;
  }

  async settled(): Promise<void> {}

  async close(): Promise<void> {
    this.#started = false;
  }
}
