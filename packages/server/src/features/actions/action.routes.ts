import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ACTION_TYPES, type ActionType } from '@updraft/core';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { UserPrincipal } from '../../auth/principal.js';
import { ServerError } from '../../errors.js';
import type { ChangeContext } from '../releases/release.service.js';
import { findAction } from './action.repository.js';
import { type ActionService, eventsOfAction, toAction } from './action.service.js';
import { ACTION_STATES, type ActionState } from './action-state-machine.js';

// RFC 3339 date-time: the pattern checks the shape, the format (http/validators.ts) that the
// date exists (no 31 February).
const IsoDate = Type.String({
  format: 'date-time',
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$',
  maxLength: 40,
});
const Window = Type.Object({ start: IsoDate, end: IsoDate }, { additionalProperties: false });
const ActionTypeSchema = Type.Unsafe<ActionType>({ type: 'string', enum: [...ACTION_TYPES] });
// Shape only: the cron expression, duration range and zone are checked by core's
// RecurringWindow in the service (ACTION_WINDOW_INVALID with the reason).
const RecurringWindowSchema = Type.Object(
  {
    cron: Type.String({ minLength: 1, maxLength: 256 }),
    durationSeconds: Type.Integer(),
    timeZone: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);
/** An action as the API shows it (also inside a device's view). */
export const ActionSchema = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  releaseId: Type.String(),
  state: Type.Unsafe<ActionState>({ type: 'string', enum: [...ACTION_STATES] }),
  cancelRequested: Type.Boolean(),
  type: ActionTypeSchema,
  downloadOnly: Type.Boolean({ description: "Derived: `type === 'download-only'`." }),
  forceAfter: Type.Union([IsoDate, Type.Null()]),
  maintenanceWindow: Type.Union([Window, Type.Null()]),
  recurringWindow: Type.Union([RecurringWindowSchema, Type.Null()]),
  open: Type.Boolean(),
  createdAt: Type.String(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.String(),
});
const EventSchema = Type.Object({
  at: Type.String(),
  source: Type.String(),
  status: Type.String(),
  progress: Type.Union([Type.Integer(), Type.Null()]),
  code: Type.Union([Type.String(), Type.Null()]),
  message: Type.Union([Type.String(), Type.Null()]),
  reportId: Type.Union([Type.String(), Type.Null()]),
});
const IdParams = Type.Object({ id: Type.String({ maxLength: 128 }) });

function context(request: FastifyRequest): ChangeContext {
  const p = request.principal as UserPrincipal;
  return { tenantId: p.tenantId, actorId: p.userId, ip: request.ip, requestId: request.id };
}

/** `/api/v1/actions`: assign a release to one device, cancel, read an action and its history. */
export const actionRoutes: FastifyPluginAsyncTypebox<{ actions: ActionService }> = async (
  app,
  { actions },
) => {
  app.post(
    '/actions',
    {
      config: { permission: 'actions:write' },
      schema: {
        summary: 'Assign a release to one device',
        description:
          "The release must be of the device's class and not signed by a revoked key; a device has at most one open action.",
        tags: ['actions'],
        body: Type.Object(
          {
            deviceId: Type.String({
              minLength: 1,
              maxLength: 128,
              description: 'The device id or name.',
            }),
            releaseId: Type.String({ minLength: 1, maxLength: 128 }),
            type: Type.Optional(ActionTypeSchema),
            downloadOnly: Type.Optional(
              Type.Boolean({ description: "Older spelling of type 'download-only'." }),
            ),
            forceAfter: Type.Optional(Type.Union([IsoDate, Type.Null()])),
            maintenanceWindow: Type.Optional(Type.Union([Window, Type.Null()])),
            recurringWindow: Type.Optional(Type.Union([RecurringWindowSchema, Type.Null()])),
          },
          { additionalProperties: false },
        ),
        response: { 201: ActionSchema },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const action = await actions.assign(context(request), {
        deviceId: b.deviceId,
        releaseId: b.releaseId,
        type: b.type,
        downloadOnly: b.downloadOnly,
        forceAfter: b.forceAfter ?? null,
        maintenanceWindow: b.maintenanceWindow ?? null,
        recurringWindow: b.recurringWindow ?? null,
      });
      request.auditWritten = true;
      return reply.code(201).send(action);
    },
  );

  app.get(
    '/actions/:id',
    {
      config: { permission: 'actions:read' },
      schema: {
        summary: 'An action with its event history',
        tags: ['actions'],
        params: IdParams,
        response: {
          200: Type.Object({ ...ActionSchema.properties, events: Type.Array(EventSchema) }),
        },
      },
    },
    async (request) => {
      const tenantId = (request.principal as UserPrincipal).tenantId;
      const row = await findAction(app.updraft.db, tenantId, request.params.id);
      if (row === undefined)
        throw new ServerError('RESOURCE_NOT_FOUND', `action ${request.params.id} not found`);
      return { ...toAction(row), events: await eventsOfAction(app.updraft.db, tenantId, row.id) };
    },
  );

  app.post(
    '/actions/:id/cancel',
    {
      config: { permission: 'actions:write' },
      schema: {
        summary: 'Request cancellation (the device acknowledges)',
        tags: ['actions'],
        params: IdParams,
        response: { 200: ActionSchema },
      },
    },
    async (request) => {
      const action = await actions.cancel(context(request), request.params.id);
      request.auditWritten = true;
      return action;
    },
  );
};
