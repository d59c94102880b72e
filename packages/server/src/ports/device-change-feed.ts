/**
 * A device whose credentials or check-in state changed (token revoked or rotated, device
 * decommissioned, open action assigned or closed, reported state changed); `null` means anything
 * may have changed (e.g. notifications may have been missed) and every cached device is stale.
 */
export type DeviceChange = { readonly tenantId: string; readonly deviceId: string } | null;

/**
 * Tells this process about device changes, wherever they were written. The database itself
 * announces them, so no write path can forget: on PostgreSQL triggers `pg_notify` every replica
 * (delivered on commit; changes made with plain SQL count too); on SQLite, a single-process
 * backend, temporary triggers on this process's connection call back into it. A write path also
 * calls {@link announce} after its commit, so the process that made a change sees it at once
 * (PostgreSQL delivers its own notifications a moment after the commit).
 *
 * Implementations: `SqliteDeviceChangeFeed` and `PostgresDeviceChangeFeed` (src/db/device-changes.ts)
 * and the test double `InMemoryDeviceChangeFeed` (src/testing/); one contract suite
 * (`runDeviceChangeFeedContract`, src/testing/device-change-feed.contract.ts) checks each.
 */
export interface DeviceChangeFeed {
  /** True while every committed change reaches this process (PostgreSQL: LISTEN connection up). */
  readonly live: boolean;
  /** Calls `listener` for every change; returns the unsubscribe function. */
  subscribe(listener: (change: DeviceChange) => void): () => void;
  /** Announces a change this process just committed (read-your-writes; see above). */
  announce(tenantId: string, deviceId: string): void;
  /** Starts listening. Run after migrations (the triggers need the tables). Idempotent. */
  start(): Promise<void>;
  /** Resolves once every change committed before the call has reached the listeners. */
  settled(): Promise<void>;
  close(): Promise<void>;
}
