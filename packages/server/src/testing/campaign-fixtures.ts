import { createHash } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import type { Role } from '../auth/permissions.js';
import { type Fleet, seedFleet, uploadRelease } from './release-fixtures.js';
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
