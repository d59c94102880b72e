/**
 * What differs between database backends, as data. Code branches on these flags, never on a
 * dialect name.
 */
export interface DialectSupport {
  /** For logs and test names only; never branch on it. */
  readonly label: 'sqlite' | 'postgres';
  /** `SELECT … FOR UPDATE SKIP LOCKED` is available (work queues across replicas). */
  readonly supportsSkipLocked: boolean;
  /** More than one connection can write at once (SQLite serialises writers). */
  readonly supportsConcurrentWriters: boolean;
  /**
   * SQL taking the lock `key` (an integer naming one critical section) until the transaction
   * ends, across every replica; undefined where write transactions already run one at a time
   * (SQLite's single writer), so the transaction itself is the lock.
   */
  transactionLockStatement(key: number): string | undefined;
  /** `CREATE UNLOGGED TABLE` (no write-ahead log: for disposable data such as rate-limit counts). */
  readonly supportsUnloggedTables: boolean;
  /**
   * Parameters may be arrays, expanded in SQL with `unnest` (a batch of any size as one fixed
   * statement text: prepared once, no per-row parameters to bind or to compile).
   */
  readonly supportsArrayParameters: boolean;
  /** Schema holding Kysely's migration tables, when the backend has schemas. */
  readonly migrationTableSchema: string | undefined;
  /** DDL statements that make `table` reject UPDATE and DELETE. */
  appendOnlyStatements(table: string): readonly string[];
  /**
   * DDL for persistent triggers announcing device changes to every replica (see
   * `device-changes.ts`); empty where the feed installs per-connection triggers itself.
   */
  deviceChangeTriggerStatements(): readonly string[];
  /** DDL making bulk-written tables notify per statement (`device-changes.ts`); empty likewise. */
  bulkDeviceChangeTriggerStatements(): readonly string[];
  /** DDL of the device changes MQTT watches (migration 20261203143000); empty likewise. */
  mqttDeviceChangeTriggerStatements(): readonly string[];
  /** DDL for the PKI's watched changes (admission, tenant-wide settings); empty likewise. */
  pkiChangeTriggerStatements(): readonly string[];
}
