import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import { preparedQuery } from './prepared-query.js';
import '../actions/action.table.js';
import '../releases/release.table.js';
import './device-report.table.js';

/**
 * The device's check-in state in one statement — device ⟕ its last report ⟕ its open action
 * (three index searches) — compiled once: every poll without a cached session runs it.
 */
export function checkInStateQuery(db: Kysely<Database>) {
  return preparedQuery(db, ['deviceId', 'tenantId'], (p) =>
    db
      .selectFrom('devices as d')
      .leftJoin('device_reports as r', 'r.device_id', 'd.id')
      .leftJoin('actions as a', (j) =>
        j.onRef('a.tenant_id', '=', 'd.tenant_id').onRef('a.open_key', '=', 'd.id'),
      )
      .select(['r.report_digest', 'a.id as actionId'])
      .where('d.id', '=', p.deviceId)
      .where('d.tenant_id', '=', p.tenantId),
  );
}

/** The action with its release's version and sequence number, as the check-in shows it. */
export async function findActionForDevice(
  db: Kysely<Database>,
  tenantId: string,
  actionId: string,
) {
  return db
    .selectFrom('actions as a')
    .innerJoin('releases as r', 'r.id', 'a.release_id')
    .select([
      'a.id',
      'a.state',
      'a.open_key',
      'a.cancel_requested',
      'a.action_type',
      'a.force_after',
      'a.maintenance_window',
      'a.recurring_window',
      'r.id as releaseId',
      'r.version',
      'r.sequence_number',
    ])
    .where('a.tenant_id', '=', tenantId)
    .where('a.id', '=', actionId)
    .executeTakeFirst();
}

/** A release's payloads by component id. */
export async function listReleasePayloads(
  db: Kysely<Database>,
  tenantId: string,
  releaseId: string,
): Promise<{ component_id: string; sha256: string; size: number }[]> {
  return db
    .selectFrom('release_payloads')
    .select(['component_id', 'sha256', 'size'])
    .where('tenant_id', '=', tenantId)
    .where('release_id', '=', releaseId)
    .orderBy('component_id')
    .execute();
}

/** Records the digest of the device's latest report. */
export async function storeReportDigest(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  digest: string,
  at: string,
): Promise<void> {
  await trx
    .insertInto('device_reports')
    .values({ device_id: deviceId, tenant_id: tenantId, report_digest: digest, updated_at: at })
    .onConflict((oc) =>
      oc.column('device_id').doUpdateSet({ report_digest: digest, updated_at: at }),
    )
    .execute();
}

/** The release of the device's own action `actionId` (another device's answers nothing). */
export async function findReleaseOfDeviceAction(
  db: Kysely<Database>,
  tenantId: string,
  deviceId: string,
  actionId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('actions')
    .select('release_id')
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .where('id', '=', actionId)
    .executeTakeFirst();
  return row?.release_id;
}
