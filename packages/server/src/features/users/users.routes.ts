import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ROLES, type Role } from '../../auth/permissions.js';
import { MIN_PASSWORD_LENGTH } from '../../config/config.js';
import { userOf } from '../../http/access-control.js';
import {
  checkOrigin,
  clearSessionCookie,
  isWebClient,
  setSessionCookie,
} from '../../http/browser-session.js';
import type { ChangeContext } from '../releases/release.service.js';
import type { UserView } from './user.repository.js';
import type { UserService } from './user.service.js';

const RoleSchema = Type.Enum(ROLES);
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const Username = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' });
const TenantName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' });
/** A new password: the same minimum everywhere (users, changes, resets, UPDRAFT_ADMIN_PASSWORD). */
const Password = Type.String({ minLength: MIN_PASSWORD_LENGTH, maxLength: 256 });
const UserSchema = Type.Object({
  id: Type.String(),
  username: Type.String(),
  roles: Type.Array(Type.String()),
  createdAt: Type.String(),
  disabledAt: Type.Union([Type.String(), Type.Null()]),
});
const TokenSchema = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
});
const TenantSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: Type.String(),
});

function context(request: FastifyRequest): ChangeContext {
  const me = userOf(request);
  return { tenantId: me.tenantId, actorId: me.userId, ip: request.ip, requestId: request.id };
}

function origin(request: FastifyRequest) {
  return { ip: request.ip, requestId: request.id };
}

const view = (user: UserView) => ({ ...user, roles: [...user.roles] });

/**
 * Login, the caller's own account and tokens, users and roles, tenants. Mounted at `/api/v1`.
 * Answers that carry a secret (login, token creation) are `Cache-Control: no-store` like every
 * `/api/v1` answer (see access-control.ts).
 */
export const usersRoutes: FastifyPluginAsyncTypebox<{ users: UserService }> = async (
  app,
  { users },
) => {
  const { sessionTtlSeconds } = app.updraft.config.auth;
  // The cookie is Secure when the port speaks TLS (a browser drops Secure cookies over http).
  const secureCookies = app.updraft.config.tls.enabled;
  app.post(
    '/auth/login',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['auth'],
        security: [],
        body: Type.Object(
          {
            username: Username,
            password: Type.String({ minLength: 1, maxLength: 256 }),
            tenant: Type.Optional(TenantName),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            // Absent for the dashboard (x-updraft-client: web): it gets the HttpOnly cookie.
            token: Type.Optional(Type.String()),
            expiresAt: Type.String(),
            user: UserSchema,
            passwordChangeRequired: Type.Boolean(),
          }),
        },
      },
    },
    async (request, reply) => {
      const web = isWebClient(request.headers);
      if (web) checkOrigin(request);
      const result = await users.login(origin(request), request.body);
      request.auditWritten = true;
      const { token, ...rest } = result;
      const body = { ...rest, user: view(result.user) };
      if (!web) return { token, ...body };
      setSessionCookie(reply, token, sessionTtlSeconds, secureCookies);
      return body;
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['auth'],
        summary: 'End the current login session (cookie or session token) and clear the cookie',
        response: { 200: Type.Object({ sessionEnded: Type.Boolean() }) },
      },
    },
    async (request, reply) => {
      const result = await users.logout(origin(request), userOf(request));
      request.auditWritten = true;
      clearSessionCookie(reply, secureCookies);
      return result;
    },
  );

  app.get(
    '/me',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['auth'],
        response: {
          200: Type.Object({ ...UserSchema.properties, passwordChangeRequired: Type.Boolean() }),
        },
      },
    },
    async (request) => {
      const me = userOf(request);
      return { ...view(await users.me(me)), passwordChangeRequired: me.mustChangePassword };
    },
  );

  app.post(
    '/me/password',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['auth'],
        summary: 'Change your own password; revokes your other login sessions',
        body: Type.Object(
          { currentPassword: Type.String({ minLength: 1, maxLength: 256 }), newPassword: Password },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ sessionsRevoked: Type.Integer() }) },
      },
    },
    async (request) => {
      const result = await users.changeOwnPassword(origin(request), userOf(request), request.body);
      request.auditWritten = true;
      return result;
    },
  );

  app.get(
    '/roles',
    { config: { permission: 'authenticated' }, schema: { tags: ['users'] } },
    async () => ({ roles: ROLES }),
  );

  app.get(
    '/users',
    {
      config: { permission: 'users:read' },
      schema: {
        tags: ['users'],
        response: { 200: Type.Object({ items: Type.Array(UserSchema) }) },
      },
    },
    async (request) => ({ items: (await users.list(userOf(request).tenantId)).map(view) }),
  );

  app.post(
    '/users',
    {
      config: { permission: 'users:write' },
      schema: {
        tags: ['users'],
        body: Type.Object(
          {
            username: Username,
            password: Password,
            roles: Type.Array(RoleSchema, { maxItems: ROLES.length }),
            mustChangePassword: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 201: UserSchema },
      },
    },
    async (request, reply) => {
      const { roles, ...rest } = request.body;
      const user = await users.create(context(request), { ...rest, roles: roles as Role[] });
      request.auditWritten = true;
      return reply.code(201).send(view(user));
    },
  );

  app.get(
    '/users/:id',
    {
      config: { permission: 'users:read' },
      schema: { tags: ['users'], params: Type.Object({ id: Id }), response: { 200: UserSchema } },
    },
    async (request) => view(await users.get(userOf(request).tenantId, request.params.id)),
  );

  app.put(
    '/users/:id/roles',
    {
      config: { permission: 'users:write' },
      schema: {
        tags: ['users'],
        params: Type.Object({ id: Id }),
        body: Type.Object(
          { roles: Type.Array(RoleSchema, { maxItems: ROLES.length }) },
          { additionalProperties: false },
        ),
        response: { 200: UserSchema },
      },
    },
    async (request) => {
      const user = await users.setRoles(
        context(request),
        request.params.id,
        request.body.roles as Role[],
      );
      request.auditWritten = true;
      return view(user);
    },
  );

  app.put(
    '/users/:id/password',
    {
      config: { permission: 'users:write' },
      schema: {
        tags: ['users'],
        summary:
          "Reset another user's password: revokes their tokens; they change it at next login",
        params: Type.Object({ id: Id }),
        body: Type.Object({ newPassword: Password }, { additionalProperties: false }),
      },
    },
    async (request, reply) => {
      await users.resetPassword(context(request), request.params.id, request.body.newPassword);
      request.auditWritten = true;
      return reply.code(204).send();
    },
  );

  app.delete(
    '/users/:id',
    {
      config: { permission: 'users:write' },
      schema: { tags: ['users'], params: Type.Object({ id: Id }) },
    },
    async (request, reply) => {
      await users.disable(context(request), request.params.id);
      request.auditWritten = true;
      return reply.code(204).send();
    },
  );

  app.get(
    '/tokens',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['tokens'],
        response: { 200: Type.Object({ items: Type.Array(TokenSchema) }) },
      },
    },
    async (request) => ({ items: await users.tokens(userOf(request)) }),
  );

  app.post(
    '/tokens',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['tokens'],
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000]*$' }),
            expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ token: Type.String(), info: TokenSchema }) },
      },
    },
    async (request, reply) => {
      const issued = await users.createToken(context(request), userOf(request), request.body);
      request.auditWritten = true;
      // The secret is in this response only; the database keeps its SHA-256.
      return reply.code(201).send({ token: issued.token, info: issued.view });
    },
  );

  app.delete(
    '/tokens/:id',
    {
      config: { permission: 'authenticated' },
      schema: { tags: ['tokens'], params: Type.Object({ id: Id }) },
    },
    async (request, reply) => {
      await users.revokeToken(context(request), userOf(request), request.params.id);
      request.auditWritten = true;
      return reply.code(204).send();
    },
  );

  app.get(
    '/tenants',
    {
      config: { permission: 'tenants:read' },
      schema: {
        tags: ['tenants'],
        response: { 200: Type.Object({ items: Type.Array(TenantSchema) }) },
      },
    },
    async (request) => ({ items: await users.tenants(userOf(request)) }),
  );

  app.post(
    '/tenants',
    {
      config: { permission: 'tenants:write' },
      schema: {
        tags: ['tenants'],
        summary: 'Create a tenant and its first admin (admins of the default tenant only)',
        body: Type.Object(
          { name: TenantName, adminUsername: Username, adminPassword: Password },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ tenant: TenantSchema, admin: UserSchema }) },
      },
    },
    async (request, reply) => {
      const created = await users.createTenant(context(request), userOf(request), request.body);
      request.auditWritten = true;
      return reply.code(201).send({ tenant: created.tenant, admin: view(created.admin) });
    },
  );
};
