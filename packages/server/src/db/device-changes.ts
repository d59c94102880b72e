import { createHash, randomUUID } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';

import type { DeviceChange, DeviceChangeFeed } from '../ports/device-change-feed.js';

export type { DeviceChange, DeviceChangeFeed } from '../ports/device-change-feed.js';

/** Shared by every implementation: the listener set. */
export abstract class ListenerSet {
  readonly #listeners = new Set<(change: DeviceChange) => void>();

  subscribe(listener: (change: DeviceChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  announce(tenantId: string, deviceId: string): void {
    this.emit({ tenantId, deviceId });
  }

  protected emit(change: DeviceChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}

/** A row change that alters a device's credentials or check-in state. */
interface WatchedChange {
  readonly table: string;
  /** The column holding the device id. */
  readonly device: string;
  readonly event: 'INSERT' | 'UPDATE' | 'DELETE';
  /** UPDATE only: the columns whose change counts (fires only when one of them changed value). */
  readonly columns?: readonly string[];
  /** Distinguishes the trigger's name from another one on the same table and event. */
  readonly suffix?: string;
}

const WATCHED: readonly WatchedChange[] = [
  {
    table: 'devices',
    device: 'id',
    event: 'UPDATE',
    columns: ['decommissioned_at', 'device_class_id'],
  },
  { table: 'devices', device: 'id', event: 'DELETE' },
  { table: 'device_tokens', device: 'device_id', event: 'UPDATE' },
  { table: 'device_tokens', device: 'device_id', event: 'DELETE' },
  // An action opens or closes (progress reports leave open_key as it is: no notification).
  { table: 'actions', device: 'device_id', event: 'INSERT' },
  { table: 'actions', device: 'device_id', event: 'UPDATE', columns: ['open_key'] },
  { table: 'actions', device: 'device_id', event: 'DELETE' },
  { table: 'device_reports', device: 'device_id', event: 'INSERT' },
  { table: 'device_reports', device: 'device_id', event: 'UPDATE', columns: ['report_digest'] },
  { table: 'device_reports', device: 'device_id', event: 'DELETE' },
];

/**
 * Watched from migration 20261203142000 on (the columns exist since 20261203140000-pki, after the
 * migration that installed {@link WATCHED}): a device's admission decides whether it may use the
 * device API at all.
 */
const WATCHED_SINCE_PKI: readonly WatchedChange[] = [
  { table: 'devices', device: 'id', event: 'UPDATE', columns: ['admission'], suffix: 'admission' },
];

/**
 * Tables whose every change concerns all devices of a tenant (per-tenant settings): any write
 * tells listeners that anything may have changed. Rare writes, so dropping everything is cheaper
 * than a per-tenant index in every cache.
 */
const WATCHED_TENANT_WIDE: readonly string[] = ['pki_settings'];

const triggerName = (w: WatchedChange) =>
  `${w.table}_${w.event.toLowerCase()}${w.suffix === undefined ? '' : `_${w.suffix}`}_device_changed`;

/** A trigger's `AFTER …` clause and its `WHEN (…)` (or ''); `distinct` is the dialect's IS DISTINCT FROM. */
function triggerClauses(w: WatchedChange, distinct: string): { after: string; when: string } {
  if (w.columns === undefined) return { after: `AFTER ${w.event}`, when: '' };
  const changed = w.columns.map((c) => `OLD.${c} ${distinct} NEW.${c}`).join(' OR ');
  return { after: `AFTER UPDATE OF ${w.columns.join(', ')}`, when: `WHEN (${changed})` };
}

// The SQLite callback and the PostgreSQL trigger function share this name.
const TRIGGER_FUNCTION = 'updraft_device_changed';
// Likewise for a tenant-wide change (listeners drop everything).
const ALL_TRIGGER_FUNCTION = 'updraft_all_devices_changed';

/**
 * SQLite: temporary triggers (they live on this process's connection only, so the database file
 * stays usable with the sqlite3 shell) call a function registered on the same connection. They
 * fire inside the writing statement; Kysely's SQLite driver runs one statement at a time, so no
 * read can slip in between the trigger and the commit.
 */
export class SqliteDeviceChangeFeed extends ListenerSet implements DeviceChangeFeed {
  #started = false;

  /** Live once its triggers are installed (before that nothing would tell of a change). */
  get live(): boolean {
    return this.#started;
  }

  constructor(private readonly native: BetterSqlite3.Database) {
    super();
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.native.function(TRIGGER_FUNCTION, { deterministic: false }, (tenantId, deviceId) => {
      if (typeof tenantId === 'string' && typeof deviceId === 'string')
        this.emit({ tenantId, deviceId });
      return null;
    });
    this.native.function(ALL_TRIGGER_FUNCTION, { deterministic: false }, () => {
      this.emit(null);
      return null;
    });
    for (const w of [...WATCHED, ...WATCHED_SINCE_PKI]) {
      const row = w.event === 'DELETE' ? 'OLD' : 'NEW';
      const { after, when } = triggerClauses(w, 'IS NOT');
      this.native
        .prepare(
          `CREATE TEMP TRIGGER IF NOT EXISTS ${triggerName(w)} ` +
            `${after} ON main.${w.table} ${when} ` +
            `BEGIN SELECT ${TRIGGER_FUNCTION}(${row}.tenant_id, ${row}.${w.device}); END`,
        )
        .run();
    }
    for (const table of WATCHED_TENANT_WIDE) {
      for (const event of ['INSERT', 'UPDATE', 'DELETE']) {
        this.native
          .prepare(
            `CREATE TEMP TRIGGER IF NOT EXISTS ${table}_${event.toLowerCase()}_all_changed ` +
              `AFTER ${event} ON main.${table} BEGIN SELECT ${ALL_TRIGGER_FUNCTION}(); END`,
          )
          .run();
      }
    }
    this.#started = true;
  }

  async settled(): Promise<void> {}

  async close(): Promise<void> {}
}

/** The NOTIFY channel of one schema (channel names are database-wide; schemas share a database). */
export function deviceChangeChannel(schema: string): string {
  return `updraft_devices_${createHash('md5').update(schema).digest('hex')}`;
}

/**
 * DDL (PostgreSQL) for the triggers that notify {@link deviceChangeChannel} on every watched
 * change. Run by a migration in the schema's search path.
 */
export function postgresDeviceChangeTriggers(): string[] {
  const statements = [
    `CREATE OR REPLACE FUNCTION ${TRIGGER_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE row jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN row := to_jsonb(OLD); ELSE row := to_jsonb(NEW); END IF;
  PERFORM pg_notify('updraft_devices_' || md5(TG_TABLE_SCHEMA),
    json_build_array(row ->> 'tenant_id', row ->> TG_ARGV[0])::text);
  RETURN NULL;
END $$`,
  ];
  for (const w of WATCHED) {
    const { after, when } = triggerClauses(w, 'IS DISTINCT FROM');
    statements.push(
      `CREATE TRIGGER ${triggerName(w)} ${after} ON ${w.table} ` +
        `FOR EACH ROW ${when} EXECUTE FUNCTION ${TRIGGER_FUNCTION}('${w.device}')`,
    );
  }
  return statements;
}

/**
 * DDL (PostgreSQL, migration 20261203142000) for the PKI's watched changes: a device's admission
 * (per device) and the tenant-wide tables, which notify `all` once per statement.
 */
export function postgresPkiChangeTriggers(): string[] {
  // updraft_device_changed() exists since migration 20261122010000.
  const statements: string[] = [];
  for (const w of WATCHED_SINCE_PKI) {
    const { after, when } = triggerClauses(w, 'IS DISTINCT FROM');
    statements.push(
      `CREATE TRIGGER ${triggerName(w)} ${after} ON ${w.table} ` +
        `FOR EACH ROW ${when} EXECUTE FUNCTION ${TRIGGER_FUNCTION}('${w.device}')`,
    );
  }
  statements.push(`CREATE OR REPLACE FUNCTION ${ALL_TRIGGER_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('updraft_devices_' || md5(TG_TABLE_SCHEMA), '${ALL_CHANGED}');
  RETURN NULL;
END $$`);
  for (const table of WATCHED_TENANT_WIDE) {
    statements.push(
      `CREATE TRIGGER ${table}_all_changed AFTER INSERT OR UPDATE OR DELETE ON ${table} ` +
        `FOR EACH STATEMENT EXECUTE FUNCTION ${ALL_TRIGGER_FUNCTION}()`,
    );
  }
  return statements;
}

/** Above this many rows, one bulk INSERT notifies `all` instead of each device. */
export const BULK_NOTIFY_LIMIT = 64;

/** The payload that tells listeners anything may have changed (a bulk write). */
const ALL_CHANGED = 'all';

/**
 * DDL (PostgreSQL) replacing the per-row notification of an `actions` INSERT by one per
 * statement (a transition table): each inserted row's device up to {@link BULK_NOTIFY_LIMIT}
 * rows, one `all` above (a campaign fan-out inserts thousands; a notification per row was
 * most of its cost, and listeners drop everything on `all` anyway cheaper than per device).
 */
export function postgresBulkInsertTriggers(): string[] {
  return [
    `CREATE OR REPLACE FUNCTION updraft_device_rows_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE channel text := 'updraft_devices_' || md5(TG_TABLE_SCHEMA);
BEGIN
  IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT ${BULK_NOTIFY_LIMIT + 1}) s) > ${BULK_NOTIFY_LIMIT} THEN
    PERFORM pg_notify(channel, '${ALL_CHANGED}');
  ELSE
    PERFORM pg_notify(channel, json_build_array(tenant_id, device_id)::text)
      FROM (SELECT DISTINCT tenant_id, device_id FROM new_rows) s;
  END IF;
  RETURN NULL;
END $$`,
    'DROP TRIGGER IF EXISTS actions_insert_device_changed ON actions',
    `CREATE TRIGGER actions_insert_device_changed AFTER INSERT ON actions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION updraft_device_rows_inserted()`,
  ];
}

const SETTLE_TIMEOUT_MS = 2_000;
const RECONNECT_DELAYS_MS = [100, 250, 500, 1_000, 2_000, 5_000];

/**
 * PostgreSQL: one dedicated connection per process LISTENs on the schema's channel. While it is
 * down the feed is not live (callers must not trust what they cached) and it reconnects with
 * backoff; on every (re)connect it reports `null`, since changes may have been missed.
 */
export class PostgresDeviceChangeFeed extends ListenerSet implements DeviceChangeFeed {
  readonly #channel: string;
  #client: pg.Client | undefined;
  #closed = false;
  #starting: Promise<void> | undefined;
  #attempt = 0;
  #retry: NodeJS.Timeout | undefined;
  readonly #waiters = new Map<string, () => void>();

  constructor(
    private readonly url: string,
    private readonly schema: string,
    private readonly pool: pg.Pool,
  ) {
    super();
    this.#channel = deviceChangeChannel(schema);
  }

  get live(): boolean {
    return this.#client !== undefined;
  }

  start(): Promise<void> {
    this.#starting ??= this.#connect();
    return this.#starting;
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.url,
      application_name: `updraft-device-changes:${this.schema}`.slice(0, 63),
    });
    client.on('notification', (message) => this.#onNotification(message.payload));
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#channel}"`);
    } catch {
      await client.end().catch(() => undefined);
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#attempt = 0;
    this.emit(null); // whatever changed while nobody listened
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.emit(null);
    for (const resolve of this.#waiters.values()) resolve();
    this.#waiters.clear();
    void client.end().catch(() => undefined);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retry !== undefined) return;
    const delay = RECONNECT_DELAYS_MS[Math.min(this.#attempt++, RECONNECT_DELAYS_MS.length - 1)];
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.#connect();
    }, delay);
    this.#retry.unref();
  }

  #onNotification(payload: string | undefined): void {
    if (payload === undefined) return;
    if (payload.startsWith('settled ')) {
      const id = payload.slice('settled '.length);
      this.#waiters.get(id)?.();
      this.#waiters.delete(id);
      return;
    }
    if (payload === ALL_CHANGED) {
      this.emit(null);
      return;
    }
    try {
      const [tenantId, deviceId] = JSON.parse(payload) as unknown[];
      if (typeof tenantId === 'string' && typeof deviceId === 'string') {
        this.emit({ tenantId, deviceId });
        return;
      }
    } catch {
      // fall through: an unreadable payload means we cannot tell which device changed
    }
    this.emit(null);
  }

  /** Sends a marker through the channel and waits for it: notifications arrive in commit order. */
  async settled(): Promise<void> {
    const client = this.#client;
    if (client === undefined) return; // not live: nothing is trusted from the cache anyway
    const id = randomUUID();
    const arrived = new Promise<boolean>((resolve) => {
      this.#waiters.set(id, () => resolve(true));
      setTimeout(() => resolve(false), SETTLE_TIMEOUT_MS).unref();
    });
    const sent = await this.pool
      .query('SELECT pg_notify($1, $2)', [this.#channel, `settled ${id}`])
      .then(() => true)
      .catch(() => false);
    if (!sent || !(await arrived)) {
      // The listener is not hearing the channel: treat it as lost (flush, reconnect).
      this.#waiters.delete(id);
      this.#lost(client);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await this.#starting?.catch(() => undefined);
    await client?.end().catch(() => undefined);
  }

  /** The listening backend's process id (tests terminate it to simulate a lost connection). */
  get listenerProcessId(): number | undefined {
    return (this.#client as unknown as { processID?: number } | undefined)?.processID;
  }
}
