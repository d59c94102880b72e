import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ACTION_TYPES, type ActionType } from '@updraft/core';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { userOf } from '../../http/access-control.js';
import { FILTER_LIMITS } from '../filters/parse-filter.js';
import { CAMPAIGN_LIMITS, type CampaignContext, type CampaignService } from './campaign.service.js';
import type { CampaignEventStreams } from './campaign-event-stream.js';
import {
  CAMPAIGN_STATES,
  CAMPAIGN_TYPES,
  PHASE_STATES,
  STATE_REASONS,
  TARGET_STATUSES,
} from './campaign-states.js';

// RFC 3339 date-time, as the actions routes take it.
const IsoDate = Type.String({
  format: 'date-time',
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$',
  maxLength: 40,
});
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);
const Filter = Type.String({ minLength: 1, maxLength: FILTER_LIMITS.maxLength });
const Percent = Type.Number({ minimum: 0, maximum: 100 });
const ErrorThreshold = Type.Union([
  Type.Object({ percent: Percent }, { additionalProperties: false }),
  Type.Object({ count: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
]);
const ActionTypeSchema = Type.Unsafe<ActionType>({ type: 'string', enum: [...ACTION_TYPES] });
// Shape only: cron, duration and zone are checked by core's RecurringWindow in the service.
const RecurringWindow = Type.Object(
  {
    cron: Type.String({ minLength: 1, maxLength: 256 }),
    durationSeconds: Type.Integer(),
    timeZone: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);
const PhaseInput = Type.Object(
  {
    percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100 })),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: CAMPAIGN_LIMITS.phaseCount })),
    filter: Type.Optional(Filter),
    successThreshold: Type.Optional(Percent),
    errorThreshold: Type.Optional(ErrorThreshold),
    manualGate: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const editable = {
  name: Type.String({ minLength: 1, maxLength: CAMPAIGN_LIMITS.nameLength }),
  releaseId: Type.String({ minLength: 1, maxLength: 128 }),
  filter: Filter,
  type: Type.Enum(CAMPAIGN_TYPES),
  phases: Type.Array(PhaseInput, { minItems: 1, maxItems: CAMPAIGN_LIMITS.phases }),
  successThreshold: Percent,
  errorThreshold: ErrorThreshold,
  soakSeconds: Type.Integer({ minimum: 0, maximum: CAMPAIGN_LIMITS.soakSeconds }),
  healthTimeoutSeconds: Type.Integer({
    minimum: CAMPAIGN_LIMITS.healthTimeoutSeconds.min,
    maximum: CAMPAIGN_LIMITS.healthTimeoutSeconds.max,
  }),
  actionType: ActionTypeSchema,
  forceAfter: Nullable(IsoDate),
  recurringWindow: Nullable(RecurringWindow),
};
const CreateBody = Type.Object(
  {
    name: editable.name,
    releaseId: editable.releaseId,
    filter: editable.filter,
    type: Type.Optional(editable.type),
    phases: Type.Optional(editable.phases),
    successThreshold: Type.Optional(editable.successThreshold),
    errorThreshold: Type.Optional(editable.errorThreshold),
    soakSeconds: Type.Optional(editable.soakSeconds),
    healthTimeoutSeconds: Type.Optional(editable.healthTimeoutSeconds),
    actionType: Type.Optional(editable.actionType),
    forceAfter: Type.Optional(editable.forceAfter),
    recurringWindow: Type.Optional(editable.recurringWindow),
  },
  { additionalProperties: false },
);
const PatchBody = Type.Partial(CreateBody, { additionalProperties: false });

const PhaseSchema = Type.Object({
  index: Type.Integer(),
  percent: Nullable(Type.Number()),
  count: Nullable(Type.Integer()),
  filter: Nullable(Type.String()),
  successThreshold: Type.Number(),
  errorThreshold: ErrorThreshold,
  manualGate: Type.Boolean(),
  state: Type.Enum(PHASE_STATES),
  startedAt: Nullable(Type.String()),
  passedAt: Nullable(Type.String()),
});
const CampaignSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  releaseId: Type.String(),
  filter: Type.String(),
  type: Type.Enum(CAMPAIGN_TYPES),
  state: Type.Enum(CAMPAIGN_STATES),
  stateReason: Nullable(Type.Enum(STATE_REASONS)),
  actionType: ActionTypeSchema,
  forceAfter: Nullable(Type.String()),
  recurringWindow: Nullable(RecurringWindow),
  successThreshold: Type.Number(),
  errorThreshold: ErrorThreshold,
  soakSeconds: Type.Integer(),
  healthTimeoutSeconds: Type.Integer(),
  currentPhase: Type.Integer(),
  phases: Type.Array(PhaseSchema),
  startAt: Nullable(Type.String()),
  startedAt: Nullable(Type.String()),
  finishedAt: Nullable(Type.String()),
  review: Nullable(
    Type.Object({
      decision: Type.Union([Type.Literal('approved'), Type.Literal('rejected')]),
      by: Nullable(Type.String()),
      at: Type.String(),
      comment: Nullable(Type.String()),
    }),
  ),
  revision: Type.Integer(),
  createdBy: Nullable(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
const Counts = Type.Object({
  targets: Type.Integer(),
  ...Object.fromEntries(TARGET_STATUSES.map((s) => [s, Type.Integer()])),
});
/** The status document (also the SSE `progress` event's data). */
export const CampaignStatusSchema = Type.Object({
  id: Type.String(),
  state: Type.Enum(CAMPAIGN_STATES),
  stateReason: Nullable(Type.Enum(STATE_REASONS)),
  currentPhase: Type.Integer(),
  phases: Type.Array(
    Type.Object({
      index: Type.Integer(),
      state: Type.Enum(PHASE_STATES),
      size: Type.Integer(),
      counts: Counts,
    }),
  ),
  totals: Counts,
  failureReasons: Type.Array(
    Type.Object({
      code: Type.String(),
      count: Type.Integer(),
      devices: Type.Array(Type.String(), { description: "the example devices' names" }),
      examples: Type.Array(Type.Object({ id: Type.String(), name: Type.String() }), {
        description: 'the same example devices with their ids',
      }),
    }),
  ),
  bytesSaved: Type.Integer(),
});
const TargetSchema = Type.Object({
  deviceId: Type.String(),
  deviceName: Type.String(),
  status: Type.Enum(TARGET_STATUSES),
  code: Nullable(Type.String()),
  phase: Nullable(Type.Integer()),
  actionId: Nullable(Type.String()),
  joinedAt: Type.String(),
  updatedAt: Type.String(),
});
const SettingsSchema = Type.Object(
  { approvalRequired: Type.Boolean() },
  { additionalProperties: false },
);
const IdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
});
const Comment = Type.String({ minLength: 1, maxLength: 2000 });
const Cursor = Type.String({ minLength: 1, maxLength: 256 });
const Limit = (max: number, dflt: number) =>
  Type.Integer({ minimum: 1, maximum: max, default: dflt });

function context(request: FastifyRequest): CampaignContext {
  const user = userOf(request);
  return { tenantId: user.tenantId, actorId: user.userId, ip: request.ip, requestId: request.id };
}

/**
 * The service appended the audit entries of a change that succeeded (some write two), so the
 * fallback hook adds none; a failed change is recorded by that hook.
 */
async function audited<T>(request: FastifyRequest, change: Promise<T>): Promise<T> {
  const result = await change;
  request.auditWritten = true;
  return result;
}

/** `/api/v1/campaigns` (docs/campaigns.md) and `/api/v1/campaign-settings`. */
export const campaignRoutes: FastifyPluginAsyncTypebox<{
  campaigns: CampaignService;
  streams: CampaignEventStreams;
}> = async (app, { campaigns, streams }) => {
  const tags = ['campaigns'];

  app.post(
    '/campaigns',
    {
      config: { permission: 'campaigns:write' },
      schema: {
        tags,
        summary: 'Create a draft campaign',
        description:
          'The release must exist; the filters are checked (FILTER_INVALID with a position). Without phases, one phase of 100 %.',
        body: CreateBody,
        response: { 201: CampaignSchema },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await audited(request, campaigns.create(context(request), request.body))),
  );

  app.get(
    '/campaigns',
    {
      config: { permission: 'campaigns:read' },
      schema: {
        tags,
        summary: 'List campaigns, newest first',
        description: 'Page with `cursor=<nextCursor of the previous page>`.',
        querystring: Type.Object({
          state: Type.Optional(Type.Enum(CAMPAIGN_STATES)),
          limit: Limit(200, 50),
          cursor: Type.Optional(Cursor),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(CampaignSchema),
            nextCursor: Nullable(Type.String()),
          }),
        },
      },
    },
    async (request) => campaigns.list(userOf(request).tenantId, request.query),
  );

  app.get(
    '/campaigns/:id',
    {
      config: { permission: 'campaigns:read' },
      schema: {
        tags,
        summary: 'A campaign with its phases',
        params: IdParams,
        response: { 200: CampaignSchema },
      },
    },
    async (request) => campaigns.get(userOf(request).tenantId, request.params.id),
  );

  app.patch(
    '/campaigns/:id',
    {
      config: { permission: 'campaigns:write' },
      schema: {
        tags,
        summary: 'Edit a draft or approved campaign',
        description: 'Editing an approved campaign voids its approval (back to `draft`).',
        params: IdParams,
        body: PatchBody,
        response: { 200: CampaignSchema },
      },
    },
    async (request) =>
      audited(request, campaigns.edit(context(request), request.params.id, request.body)),
  );

  app.post(
    '/campaigns/:id/approve',
    {
      config: { permission: 'campaigns:approve' },
      schema: {
        tags,
        summary: 'Approve a draft (four-eyes: not by its creator)',
        params: IdParams,
        body: Type.Optional(
          Type.Object({ comment: Type.Optional(Comment) }, { additionalProperties: false }),
        ),
        response: { 200: CampaignSchema },
      },
    },
    async (request) =>
      audited(
        request,
        campaigns.approve(context(request), request.params.id, request.body?.comment ?? null),
      ),
  );

  app.post(
    '/campaigns/:id/reject',
    {
      config: { permission: 'campaigns:approve' },
      schema: {
        tags,
        summary: 'Reject: back to draft, the review recorded',
        params: IdParams,
        body: Type.Object({ comment: Comment }, { additionalProperties: false }),
        response: { 200: CampaignSchema },
      },
    },
    async (request) =>
      audited(request, campaigns.reject(context(request), request.params.id, request.body.comment)),
  );

  app.post(
    '/campaigns/:id/start',
    {
      config: { permission: 'campaigns:write' },
      schema: {
        tags,
        summary: 'Start now (running) or at a future time (scheduled)',
        params: IdParams,
        body: Type.Optional(
          Type.Object({ at: Type.Optional(IsoDate) }, { additionalProperties: false }),
        ),
        response: { 200: CampaignSchema },
      },
    },
    async (request) =>
      audited(request, campaigns.start(context(request), request.params.id, request.body?.at)),
  );

  app.post(
    '/campaigns/:id/pause',
    {
      config: { permission: 'campaigns:write' },
      schema: {
        tags,
        summary: 'Pause (reason operator): no new actions',
        params: IdParams,
        body: Type.Optional(
          Type.Object({ comment: Type.Optional(Comment) }, { additionalProperties: false }),
        ),
        response: { 200: CampaignSchema },
      },
    },
    async (request) =>
      audited(
        request,
        campaigns.pause(context(request), request.params.id, request.body?.comment ?? null),
      ),
  );

  for (const op of ['resume', 'cancel', 'finish'] as const) {
    app.post(
      `/campaigns/:id/${op}`,
      {
        config: { permission: 'campaigns:write' },
        schema: {
          tags,
          summary: {
            resume: 'Resume a paused campaign (passes a manual gate)',
            cancel: 'Cancel: open actions are cancelled, waiting targets too',
            finish: 'Finish (reason operator): open actions run to their end',
          }[op],
          params: IdParams,
          response: { 200: CampaignSchema },
        },
      },
      async (request) => audited(request, campaigns[op](context(request), request.params.id)),
    );
  }

  app.get(
    '/campaigns/:id/status',
    {
      config: { permission: 'campaigns:read' },
      schema: {
        tags,
        summary: 'Counts per phase and in total, failure reasons, bytes saved',
        params: IdParams,
        response: { 200: CampaignStatusSchema },
      },
    },
    async (request) => campaigns.status(userOf(request).tenantId, request.params.id),
  );

  app.get(
    '/campaigns/:id/timeseries',
    {
      config: { permission: 'campaigns:read' },
      schema: {
        tags,
        summary: 'Progress samples (totals), oldest first',
        params: IdParams,
        querystring: Type.Object({ limit: Limit(10_000, 1440) }),
        response: {
          200: Type.Object({
            items: Type.Array(Type.Object({ at: Type.String(), totals: Counts })),
          }),
        },
      },
    },
    async (request) =>
      campaigns.timeseries(userOf(request).tenantId, request.params.id, request.query.limit),
  );

  app.get(
    '/campaigns/:id/targets',
    {
      config: { permission: 'campaigns:read' },
      schema: {
        tags,
        summary: 'The targets in rank order, with device name, status, code and action id',
        params: IdParams,
        querystring: Type.Object({
          status: Type.Optional(Type.Enum(TARGET_STATUSES)),
          phase: Type.Optional(Type.Integer({ minimum: 0, maximum: CAMPAIGN_LIMITS.phases - 1 })),
          limit: Limit(1000, 100),
          cursor: Type.Optional(Cursor),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(TargetSchema),
            nextCursor: Nullable(Type.String()),
          }),
        },
      },
    },
    async (request) =>
      campaigns.targets(userOf(request).tenantId, request.params.id, request.query),
  );

  app.get(
    '/campaigns/:id/events',
    {
      config: { permission: 'campaigns:read' },
      schema: {
        tags,
        summary: 'Server-sent events: the event log, then progress',
        description:
          'text/event-stream: `state_changed`, `phase_started`, `phase_advanced`, `phase_paused` (ids from the log; reconnect with `Last-Event-ID`) and `progress` (the status document, when it changed, at most once a second).',
        params: IdParams,
        headers: Type.Object({
          'last-event-id': Type.Optional(
            Type.String({ maxLength: 128, pattern: '^[A-Za-z0-9_-]*$' }),
          ),
        }),
      },
    },
    async (request, reply) => {
      const tenantId = userOf(request).tenantId;
      // Answered as a problem before the stream starts: unknown campaign, too many streams.
      await campaigns.get(tenantId, request.params.id);
      const lastId = request.headers['last-event-id'];
      await streams.open(request, reply, {
        tenantId,
        campaignId: request.params.id,
        lastEventId: lastId === undefined || lastId === '' ? undefined : lastId,
      });
    },
  );

  app.get(
    '/campaign-settings',
    {
      config: { permission: 'campaigns:read' },
      schema: {
        tags,
        summary: "The tenant's campaign settings",
        response: { 200: SettingsSchema },
      },
    },
    async (request) => campaigns.settings(userOf(request).tenantId),
  );

  app.put(
    '/campaign-settings',
    {
      config: { permission: 'settings:write' },
      schema: {
        tags,
        summary: "Change the tenant's campaign settings",
        description:
          '`approvalRequired` (default true): a campaign must be approved (four-eyes) before it starts.',
        body: SettingsSchema,
        response: { 200: SettingsSchema },
      },
    },
    async (request) => audited(request, campaigns.setSettings(context(request), request.body)),
  );
};
