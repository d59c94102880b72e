import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { userOf } from '../../http/access-control.js';
import type { AuditService } from './audit.service.js';

const IsoTime = Type.String({
  format: 'date-time', // a real date (http/validators.ts), not only its shape
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,3})?Z$',
});
const Text = Type.String({ minLength: 1, maxLength: 200 });

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
      },
    },
    async (request) => ({ items: await audit.query(userOf(request).tenantId, request.query) }),
  );
};
