import type { Kysely } from 'kysely';
import { newId } from '../auth/secrets.js';
import type { Database } from '../db/database.js';
import type { CampaignPhaseTable, CampaignTable } from '../features/campaigns/campaign.table.js';
import { componentHex } from './release-fixtures.js';

/**
 * Campaign rows written straight into the tables (as the campaign service would leave them), so
 * engine tests and benchmarks do not depend on the HTTP API.
 */

/** The component id every fixture release has (hex, as devices report it). */
export const APP_COMPONENT = componentHex(0);

/** A release row of the class (no envelope, no payloads) with one component; returns its id. */
export async function insertCampaignRelease(
  db: Kysely<Database>,
  tenantId: string,
  deviceClassId: string,
  sequenceNumber: number,
): Promise<string> {
  const id = newId('rel');
  await db
    .insertInto('releases')
    .values({
      id,
      tenant_id: tenantId,
      device_class_id: deviceClassId,
      version: `1.${sequenceNumber}.0`,
      sequence_number: sequenceNumber,
      manifest_digest: id,
      signer_kids: '[]',
      components: JSON.stringify([
        {
          id: APP_COMPONENT,
          imageDigest: null,
          imageSize: null,
          encrypted: false,
          integrated: false,
        },
      ]),
      text: null,
      envelope: '',
      envelope_size: 0,
      created_at: new Date().toISOString(),
      created_by: null,
      deleted_at: null,
    })
    .execute();
  return id;
}

/** A phase as a test names it; thresholds default as the API defaults them. */
export interface PhaseSpec {
  readonly percent?: number;
  readonly count?: number;
  readonly filter?: string;
  readonly successThreshold?: number;
  readonly errorPercent?: number | null;
  readonly errorCount?: number | null;
  readonly manualGate?: boolean;
}

/** Inserts a campaign and its phases; returns its id. */
export async function insertCampaign(
  db: Kysely<Database>,
  input: {
    tenantId: string;
    releaseId: string;
    filter?: string;
    type?: 'one-shot' | 'continuous';
    state?: string;
    startAt?: string | null;
    phases?: readonly PhaseSpec[];
    soakSeconds?: number;
    healthTimeoutSeconds?: number;
    actionType?: string;
    forceAfter?: string | null;
    recurringWindow?: string | null;
    at?: string;
  },
): Promise<string> {
  const id = newId('cmp');
  const at = input.at ?? new Date().toISOString();
  const row: CampaignTable = {
    id,
    tenant_id: input.tenantId,
    name: `campaign ${id}`,
    release_id: input.releaseId,
    filter: input.filter ?? 'true',
    type: input.type ?? 'one-shot',
    state: input.state ?? 'running',
    state_reason: null,
    action_type: input.actionType ?? 'soft',
    force_after: input.forceAfter ?? null,
    recurring_window: input.recurringWindow ?? null,
    soak_seconds: input.soakSeconds ?? 0,
    health_timeout_seconds: input.healthTimeoutSeconds ?? 1800,
    current_phase: -1,
    start_at: input.startAt ?? null,
    started_at: input.state === 'scheduled' ? null : at,
    materialised_at: null,
    finished_at: null,
    review_decision: null,
    review_by: null,
    review_at: null,
    review_comment: null,
    revision: 1,
    created_by: null,
    created_at: at,
    updated_at: at,
  };
  await db.insertInto('campaigns').values(row).execute();
  const phases = input.phases ?? [{ percent: 100 }];
  await db
    .insertInto('campaign_phases')
    .values(
      phases.map(
        (p, idx): CampaignPhaseTable => ({
          tenant_id: input.tenantId,
          campaign_id: id,
          idx,
          size_percent: p.count === undefined ? (p.percent ?? 100) : null,
          size_count: p.count ?? null,
          filter: p.filter ?? null,
          success_threshold: p.successThreshold ?? 95,
          error_threshold_percent:
            p.errorPercent === undefined ? (p.errorCount == null ? 10 : null) : p.errorPercent,
          error_threshold_count: p.errorCount ?? null,
          manual_gate: p.manualGate ? 1 : 0,
          errors_acknowledged: 0,
          state: 'pending',
          started_at: null,
          passed_at: null,
        }),
      ),
    )
    .execute();
  return id;
}

/** Records that the device runs `sequenceNumber` of the fixture component. */
export async function setInstalled(
  db: Kysely<Database>,
  tenantId: string,
  deviceId: string,
  sequenceNumber: number,
): Promise<void> {
  await db
    .deleteFrom('device_components')
    .where('device_id', '=', deviceId)
    .where('component_id', '=', APP_COMPONENT)
    .execute();
  await db
    .insertInto('device_components')
    .values({
      tenant_id: tenantId,
      device_id: deviceId,
      component_id: APP_COMPONENT,
      version: `1.${sequenceNumber}.0`,
      sequence_number: sequenceNumber,
      digest: null,
      updated_at: new Date().toISOString(),
      version_key: null,
    })
    .execute();
}
