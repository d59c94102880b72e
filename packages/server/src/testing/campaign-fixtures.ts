import { createHash } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import type { Kysely } from 'kysely';
import type { Role } from '../auth/permissions.js';
import { newId } from '../auth/secrets.js';
import type { Database } from '../db/database.js';
import type { CampaignPhaseTable, CampaignTable } from '../features/campaigns/campaign.table.js';
import { componentHex, type Fleet, seedFleet, uploadRelease } from './release-fixtures.js';
import type { TestServer } from './test-server.js';

/** A test server with a fleet, a release of its class and users of the campaign roles. */
export interface CampaignKit {
  readonly server: TestServer;
  readonly fleet: Fleet;
  readonly releaseId: string;
  /** Bearer headers per role (one user each); `admin2` is a second admin. */
  readonly as: Record<Role | 'admin2', Record<string, string>>;
  readonly userIds: Record<Role | 'admin2', string>;
  /** `server.app.inject` under `/api/v1` as `who`. */
  call(
    who: Role | 'admin2',
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    url: string,
    payload?: unknown,
  ): Promise<LightMyRequestResponse>;
}

/** Seeds a fleet of `deviceCount` devices, uploads one release and makes a user per role. */
export async function campaignKit(server: TestServer, deviceCount = 4): Promise<CampaignKit> {
  const fleet = await seedFleet(server.app.updraft.db, { deviceCount });
  const roles: (Role | 'admin2')[] = ['admin', 'admin2', 'rollout-admin', 'approver', 'support'];
  const as = {} as CampaignKit['as'];
  const userIds = {} as CampaignKit['userIds'];
  for (const who of roles) {
    const { token, userId } = await server.tokenFor([who === 'admin2' ? 'admin' : who]);
    as[who] = { authorization: `Bearer ${token}` };
    userIds[who] = userId;
  }
  const releaseId = await uploadRelease(server.app, as.admin, fleet, 2, [Buffer.from('image')]);
  return {
    server,
    fleet,
    releaseId,
    as,
    userIds,
    call: (who, method, url, payload) =>
      server.app.inject({
        method,
        url: `/api/v1${url}`,
        headers: as[who],
        ...(payload !== undefined ? { payload: payload as object } : {}),
      }),
  };
}

/** The rank a campaign target has (docs/campaigns.md: md5 of campaign id ":" device id). */
export function targetRank(campaignId: string, deviceId: string): string {
  return createHash('md5').update(`${campaignId}:${deviceId}`).digest('hex');
}

/**
 * Writes targets (and, for those given an action state, their campaign actions) straight into
 * the tables, as the engine would have: for tests of what the API reads and cancels.
 */
export async function seedTargets(
  server: TestServer,
  kit: Pick<CampaignKit, 'fleet' | 'releaseId'>,
  campaignId: string,
  targets: readonly {
    deviceId: string;
    status: string;
    phase: number | null;
    code?: string | null;
    action?: { id: string; state: string; open: boolean };
  }[],
): Promise<void> {
  const db = server.app.updraft.db;
  const at = new Date().toISOString();
  for (const t of targets) {
    if (t.action !== undefined) {
      await db
        .insertInto('actions')
        .values({
          id: t.action.id,
          tenant_id: kit.fleet.tenantId,
          device_id: t.deviceId,
          release_id: kit.releaseId,
          state: t.action.state,
          cancel_requested: 0,
          download_only: 0,
          action_type: 'soft',
          force_after: null,
          recurring_window: null,
          maintenance_window: null,
          campaign_id: campaignId,
          open_key: t.action.open ? t.deviceId : null,
          revision: 1,
          created_at: at,
          created_by: null,
          updated_at: at,
        })
        .execute();
    }
    await db
      .insertInto('campaign_targets')
      .values({
        tenant_id: kit.fleet.tenantId,
        campaign_id: campaignId,
        device_id: t.deviceId,
        rank: targetRank(campaignId, t.deviceId),
        phase: t.phase,
        action_id: t.action?.id ?? null,
        status: t.status,
        code: t.code ?? null,
        joined_at: at,
        healthy_after: null,
        silent_after: null,
        updated_at: at,
      })
      .execute();
  }
}

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
