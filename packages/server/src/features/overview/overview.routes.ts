import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { rolesGrant } from '../../auth/permissions.js';
import { userOf } from '../../http/access-control.js';
import { CAMPAIGN_STATES, STATE_REASONS, TARGET_STATUSES } from '../campaigns/campaign-states.js';
import { LISTED_CAMPAIGNS, type OverviewService, TOP_VERSIONS } from './overview.service.js';

const Count = Type.Integer({ minimum: 0 });
const Counts = Type.Object({
  targets: Count,
  ...Object.fromEntries(TARGET_STATUSES.map((s) => [s, Count])),
});

/** The overview document (docs/web.md, "The overview"). */
export const OverviewSchema = Type.Object({
  at: Type.String({ description: 'When the numbers were taken (the service clock).' }),
  devices: Type.Object({
    total: Type.Integer({ description: 'Registered devices not decommissioned.' }),
    onlineLastHour: Type.Integer({ description: 'Of those, last seen within the hour.' }),
    onlineLastDay: Type.Integer({ description: 'Of those, last seen within 24 h.' }),
    byClass: Type.Array(
      Type.Object({
        deviceClassId: Type.String(),
        name: Type.String(),
        devices: Count,
        onlineLastHour: Count,
        onlineLastDay: Count,
      }),
    ),
    byVersion: Type.Object({
      items: Type.Array(
        Type.Object({
          deviceClassId: Type.String(),
          className: Type.String(),
          version: Type.String(),
          devices: Count,
        }),
        { description: `The ${TOP_VERSIONS} largest (class, installed version) groups.` },
      ),
      other: Type.Integer({ description: 'Devices counted under the remaining versions.' }),
      unreported: Type.Integer({ description: 'Devices that report no component version.' }),
    }),
  }),
  campaigns: Type.Union(
    [
      Type.Object({
        total: Type.Integer({ description: 'Active campaigns in all.' }),
        items: Type.Array(
          Type.Object({
            id: Type.String(),
            name: Type.String(),
            state: Type.Enum(CAMPAIGN_STATES),
            stateReason: Type.Union([Type.Enum(STATE_REASONS), Type.Null()]),
            releaseId: Type.String(),
            releaseVersion: Type.Union([Type.String(), Type.Null()]),
            totals: Counts,
          }),
          { description: `The newest ${LISTED_CAMPAIGNS} active campaigns.` },
        ),
      }),
      Type.Null(),
    ],
    { description: 'Null without `campaigns:read`.' },
  ),
  failures: Type.Union(
    [
      Type.Object({
        since: Type.String(),
        total: Type.Integer(),
        items: Type.Array(
          Type.Object({
            code: Type.Union([Type.String(), Type.Null()]),
            count: Count,
            exampleMessage: Type.Union([Type.String(), Type.Null()]),
          }),
        ),
      }),
      Type.Null(),
    ],
    { description: 'Null without `actions:read`.' },
  ),
  deltas: Type.Union([Type.Object({ downloads: Count, bytesSaved: Type.Integer() }), Type.Null()], {
    description: 'Null without `releases:read`.',
  }),
});

/** `GET /api/v1/overview`: the fleet at a glance for the dashboard's first page. */
export const overviewRoutes: FastifyPluginAsyncTypebox<{ overview: OverviewService }> = async (
  app,
  { overview },
) => {
  app.get(
    '/overview',
    {
      config: { permission: 'devices:read' },
      schema: {
        tags: ['devices'],
        summary: 'The fleet at a glance',
        description:
          'Devices by class and installed version, online in the last hour and day, active campaigns with their progress, failures of the last 24 h by code, bytes saved by deltas. Parts the roles do not allow are null: campaigns need `campaigns:read`, failures `actions:read`, deltas `releases:read`.',
        response: { 200: OverviewSchema },
      },
    },
    async (request) => {
      const user = userOf(request);
      // Field-level least privilege: each part only for roles that may read its source.
      return overview.overview(user.tenantId, {
        campaigns: rolesGrant(user.roles, 'campaigns:read'),
        failures: rolesGrant(user.roles, 'actions:read'),
        deltas: rolesGrant(user.roles, 'releases:read'),
      });
    },
  );
};
