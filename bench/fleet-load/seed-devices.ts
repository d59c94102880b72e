// Registers N devices of one class in set-based SQL (the fleet-load bench's fixture): device i
// is `dev_fl_<i>` with the bearer token `<prefix><i>` (stored as SHA-256 hex, as the service
// stores every device token) and a stored report (its components and the report's digest), as a
// fleet that has checked in before. PostgreSQL: generate_series + sha256() in the server, with
// the row triggers off (no one listens yet); SQLite: one recursive-CTE INSERT per table with a
// sha256 SQL function. 1,000,000 devices take well under a minute on either.
import { createHash } from 'node:crypto';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { reportDigest } from '../../packages/server/src/features/device-api/check-in.service.ts';
import { semverKey } from '../../packages/server/src/features/filters/semver-key.ts';

export interface SeedSpec {
  readonly count: number;
  readonly tenantId: string;
  readonly deviceClassId: string;
  readonly tokenPrefix: string;
  /** The stored report: component 814100 at this version/sequence, and the report's digest. */
  readonly componentId: string;
  readonly version: string;
  readonly versionKey: string | null;
  readonly sequenceNumber: number;
  readonly reportDigest: string;
}

/** A stored report, as a device sends it: the fixture stores its first component. */
export interface SeedReport {
  readonly components: readonly { id: string; version: string; sequenceNumber: number }[];
}

/** The spec of a fleet whose devices all stored `report` (its version key and digest derived). */
export function seedSpecOf(
  fleet: Pick<SeedSpec, 'count' | 'tenantId' | 'deviceClassId' | 'tokenPrefix'>,
  report: SeedReport,
): SeedSpec {
  const component = report.components[0];
  if (component === undefined) throw new Error('a seed report needs a component');
  return {
    ...fleet,
    componentId: component.id,
    version: component.version,
    versionKey: semverKey(component.version) ?? null,
    sequenceNumber: component.sequenceNumber,
    reportDigest: reportDigest(report),
  };
}

// Same statements on both dialects: `$n` parameters; `sha256hex` and the series differ.
function statements(series: string, sha: (expr: string) => string): string[] {
  return [
    `INSERT INTO devices (id, tenant_id, name, device_class_id, created_at, last_seen_at, decommissioned_at, admission)
     SELECT 'dev_fl_' || i, :tenant, 'fl-' || i, :cls, :at, NULL, NULL, 'accepted' FROM ${series}`,
    `INSERT INTO device_tokens (id, tenant_id, device_id, token_hash, created_at, revoked_at)
     SELECT 'dtk_fl_' || i, :tenant, 'dev_fl_' || i, ${sha('CAST(:prefix AS TEXT) || i')}, :at, NULL FROM ${series}`,
    `INSERT INTO device_components (tenant_id, device_id, component_id, version, sequence_number, digest, updated_at, version_key)
     SELECT :tenant, 'dev_fl_' || i, :component, :version, CAST(:seq AS BIGINT), NULL, :at, :vkey FROM ${series}`,
    `INSERT INTO device_reports (device_id, tenant_id, report_digest, updated_at)
     SELECT 'dev_fl_' || i, :tenant, :digest, :at FROM ${series}`,
  ];
}

function params(spec: SeedSpec, at: string): Record<string, unknown> {
  return {
    tenant: spec.tenantId,
    cls: spec.deviceClassId,
    at,
    prefix: spec.tokenPrefix,
    component: spec.componentId,
    version: spec.version,
    seq: spec.sequenceNumber,
    vkey: spec.versionKey,
    digest: spec.reportDigest,
  };
}

/** `:name` placeholders → numbered ones (`$n` or `?n`) and the values in that order. */
function bind(sql: string, values: Record<string, unknown>, mark: '$') {
  const names: string[] = [];
  const text = sql.replace(/:([a-z]+)/g, (_m, name: string) => {
    let i = names.indexOf(name);
    if (i < 0) i = names.push(name) - 1;
    return `${mark}${i + 1}`;
  });
  return { text, values: names.map((n) => values[n]) };
}

export async function seedPostgres(url: string, schema: string, spec: SeedSpec): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL search_path TO "${schema}"`);
    // The device-change triggers would queue one NOTIFY per row for listeners that do not exist
    // yet (the replicas start afterwards with empty caches).
    await client.query('SET LOCAL session_replication_role = replica');
    const at = new Date().toISOString();
    for (const sql of statements(
      `generate_series(0, ${spec.count - 1}) AS g(i)`,
      (e) => `encode(sha256(convert_to(${e}, 'UTF8')), 'hex')`,
    )) {
      const q = bind(sql, params(spec, at), '$');
      await client.query(q.text, q.values);
    }
    await client.query('COMMIT');
    await client.query(
      `ANALYZE "${schema}".devices, "${schema}".device_tokens, "${schema}".device_reports, "${schema}".device_components`,
    );
  } finally {
    await client.end();
  }
}

export function seedSqlite(file: string, spec: SeedSpec): void {
  const db = new Sqlite(file);
  try {
    db.pragma('journal_mode = WAL');
    db.function('sha256hex', { deterministic: true }, (text: unknown) =>
      createHash('sha256').update(String(text)).digest('hex'),
    );
    const at = new Date().toISOString();
    const series = `(WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < ${spec.count - 1}) SELECT i FROM g)`;
    db.transaction(() => {
      for (const sql of statements(series, (e) => `sha256hex(${e})`)) {
        // better-sqlite3 binds `:name` itself (only the names the statement uses).
        const all = params(spec, at);
        const used = Object.fromEntries(
          [...sql.matchAll(/:([a-z]+)/g)].map((m) => [m[1]!, all[m[1]!]]),
        );
        db.prepare(sql).run(used);
      }
    })();
    db.exec('ANALYZE');
  } finally {
    db.close();
  }
}
