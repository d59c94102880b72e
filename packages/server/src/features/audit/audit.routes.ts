import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type TSchema, Type } from 'typebox';
import { userOf } from '../../http/access-control.js';
import { AUDIT_OUTCOMES } from './audit.repository.js';
import type { AuditService } from './audit.service.js';

const IsoTime = Type.String({
  format: 'date-time', // a real date (http/validators.ts), not only its shape
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,3})?Z$',
});
const Text = Type.String({ minLength: 1, maxLength: 200 });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const EntrySchema = Type.Object({
  id: Type.String(),
  at: Type.String(),
  tenantId: Type.String(),
  actorType: Type.Union([
    Type.Literal('user'),
    Type.Literal('device'),
    Type.Literal('anonymous'),
    Type.Literal('system'),
  ]),
  actorId: Nullable(Type.String()),
  action: Type.String(),
  resourceType: Nullable(Type.String()),
  resourceId: Nullable(Type.String()),
  // What changed, as recorded (never secrets); its shape depends on the action.
  change: Nullable(Type.Object({}, { additionalProperties: true })),
  ip: Nullable(Type.String()),
  outcome: Type.Enum(AUDIT_OUTCOMES),
  status: Type.Integer(),
  requestId: Nullable(Type.String()),
});

/** The audit log, read-only (there is no route that changes it). At `/api/v1`. */
export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditService }> = async (
  app,
  { audit },
) => {
  app.get(
    '/audit',
    {
      config: { permission: 'audit:read' },
      schema: {
        tags: ['audit'],
        description: 'Entries newest first. Page with `before=<id of the last entry seen>`.',
        querystring: Type.Object(
          {
            actor: Type.Optional(Text),
            resourceType: Type.Optional(Text),
            resourceId: Type.Optional(Text),
            action: Type.Optional(Text),
            from: Type.Optional(IsoTime),
            to: Type.Optional(IsoTime),
            before: Type.Optional(Text),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(EntrySchema) }) },
      },
    },
    async (request) => ({ items: await audit.query(userOf(request).tenantId, request.query) }),
  );
};
