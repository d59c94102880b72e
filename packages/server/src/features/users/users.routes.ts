import type { Transaction } from 'kysely';
import { Type } from 'typebox';
import { ROLES, type Role } from '../../auth/permissions.js';
import { hashPassword, verifyPassword } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import { userOf } from '../../http/access-control.js';
import type { UpdraftFeature } from '../../http/app-types.js';
import { audited } from '../../http/audit-hook.js';
import { DEFAULT_TENANT_ID } from '../../tenants/tenant.repository.js';
import { issueToken, listTokens, revokeToken } from './token.repository.js';
import {
  countActiveAdmins,
  createUser,
  disableUser,
  findUserForLogin,
  getUser,
  listUsers,
  setUserRoles,
} from './user.repository.js';

const RoleSchema = Type.Enum(ROLES);
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const Username = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' });
const Password = Type.String({ minLength: 12, maxLength: 256 });
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

// Used when the user does not exist, so a login costs the same either way (no user enumeration).
const DUMMY_HASH = await hashPassword('updraft-dummy-password');

/** Fails (rolling the change back) when it would leave the tenant without an enabled admin. */
async function keepAnAdmin(trx: Transaction<Database>, tenantId: string): Promise<void> {
  if ((await countActiveAdmins(trx, tenantId)) === 0) {
    throw new ServerError('RESOURCE_CONFLICT', 'this change would leave no enabled admin');
  }
}

/** Login, users, roles and the caller's own API tokens. Mounted at `/api/v1`. */
export const usersRoutes: UpdraftFeature = async (app) => {
  app.post(
    '/auth/login',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['auth'],
        security: [],
        body: Type.Object(
          { username: Username, password: Type.String({ minLength: 1, maxLength: 256 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ token: Type.String(), expiresAt: Type.String(), user: UserSchema }),
        },
      },
    },
    async (request) => {
      const tenantId = DEFAULT_TENANT_ID;
      const { username, password } = request.body;
      const row = await findUserForLogin(app.updraft.db, tenantId, username);
      const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_HASH);
      if (!row || !ok || row.disabled_at !== null) {
        throw new ServerError('AUTH_INVALID_CREDENTIALS', 'Unknown user or wrong password.');
      }
      const now = app.updraft.now();
      const expiresAt = new Date(
        now.getTime() + app.updraft.config.auth.sessionTtlSeconds * 1000,
      ).toISOString();
      const issued = await audited(
        request,
        'auth.login',
        'user',
        async (trx) => {
          const { token } = await issueToken(
            trx,
            tenantId,
            { userId: row.id, kind: 'session', name: 'login', expiresAt },
            now.toISOString(),
          );
          return { result: token, resourceId: row.id, change: { session: true } };
        },
        200,
        { tenantId, actorType: 'user', actorId: row.id },
      );
      const user = await getUser(app.updraft.db, tenantId, row.id);
      if (!user)
        throw new ServerError('AUTH_INVALID_CREDENTIALS', 'Unknown user or wrong password.');
      return { token: issued, expiresAt, user: { ...user, roles: [...user.roles] } };
    },
  );

  app.get(
    '/me',
    {
      config: { permission: 'authenticated' },
      schema: { tags: ['auth'], response: { 200: UserSchema } },
    },
    async (request) => {
      const me = userOf(request);
      const user = await getUser(app.updraft.db, me.tenantId, me.userId);
      if (!user) throw new ServerError('RESOURCE_NOT_FOUND', 'user not found');
      return { ...user, roles: [...user.roles] };
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
    async (request) => {
      const users = await listUsers(app.updraft.db, userOf(request).tenantId);
      return { items: users.map((u) => ({ ...u, roles: [...u.roles] })) };
    },
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
          },
          { additionalProperties: false },
        ),
        response: { 201: UserSchema },
      },
    },
    async (request, reply) => {
      const { tenantId } = userOf(request);
      const { username, password, roles } = request.body;
      const passwordHash = await hashPassword(password);
      const existing = await findUserForLogin(app.updraft.db, tenantId, username);
      if (existing) throw new ServerError('RESOURCE_CONFLICT', `user ${username} exists`);
      const user = await audited(
        request,
        'user.create',
        'user',
        async (trx) => {
          const created = await createUser(
            trx,
            tenantId,
            { username, passwordHash, roles: roles as Role[] },
            app.updraft.now().toISOString(),
          );
          return { result: created, resourceId: created.id, change: { username, roles } };
        },
        201,
      );
      return reply.code(201).send({ ...user, roles: [...user.roles] });
    },
  );

  app.get(
    '/users/:id',
    {
      config: { permission: 'users:read' },
      schema: { tags: ['users'], params: Type.Object({ id: Id }), response: { 200: UserSchema } },
    },
    async (request) => {
      const user = await getUser(app.updraft.db, userOf(request).tenantId, request.params.id);
      if (!user) throw new ServerError('RESOURCE_NOT_FOUND', `no user ${request.params.id}`);
      return { ...user, roles: [...user.roles] };
    },
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
      const { tenantId } = userOf(request);
      const { id } = request.params;
      const before = await getUser(app.updraft.db, tenantId, id);
      if (!before) throw new ServerError('RESOURCE_NOT_FOUND', `no user ${id}`);
      await audited(request, 'user.set-roles', 'user', async (trx) => {
        await setUserRoles(trx, tenantId, id, request.body.roles as Role[]);
        await keepAnAdmin(trx, tenantId);
        return {
          result: undefined,
          resourceId: id,
          change: { from: before.roles, to: request.body.roles },
        };
      });
      const after = await getUser(app.updraft.db, tenantId, id);
      return { ...(after ?? before), roles: [...(after ?? before).roles] };
    },
  );

  app.delete(
    '/users/:id',
    {
      config: { permission: 'users:write' },
      schema: { tags: ['users'], params: Type.Object({ id: Id }) },
    },
    async (request, reply) => {
      const me = userOf(request);
      const { id } = request.params;
      if (id === me.userId)
        throw new ServerError('RESOURCE_CONFLICT', 'you cannot disable yourself');
      await audited(request, 'user.disable', 'user', async (trx) => {
        const done = await disableUser(trx, me.tenantId, id, app.updraft.now().toISOString());
        await keepAnAdmin(trx, me.tenantId);
        if (!done) throw new ServerError('RESOURCE_NOT_FOUND', `no active user ${id}`);
        return {
          result: undefined,
          resourceId: id,
          change: { disabled: true, tokensRevoked: true },
        };
      });
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
    async (request) => {
      const me = userOf(request);
      return { items: await listTokens(app.updraft.db, me.tenantId, me.userId) };
    },
  );

  app.post(
    '/tokens',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['tokens'],
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100 }),
            expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ token: Type.String(), info: TokenSchema }) },
      },
    },
    async (request, reply) => {
      const me = userOf(request);
      const now = app.updraft.now();
      const days = request.body.expiresInDays;
      const expiresAt = days ? new Date(now.getTime() + days * 86_400_000).toISOString() : null;
      const issued = await audited(
        request,
        'token.create',
        'token',
        async (trx) => {
          const out = await issueToken(
            trx,
            me.tenantId,
            { userId: me.userId, kind: 'api', name: request.body.name, expiresAt },
            now.toISOString(),
          );
          return {
            result: out,
            resourceId: out.view.id,
            change: { name: request.body.name, expiresAt },
          };
        },
        201,
      );
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
      const me = userOf(request);
      await audited(request, 'token.revoke', 'token', async (trx) => {
        const done = await revokeToken(
          trx,
          me.tenantId,
          me.userId,
          request.params.id,
          app.updraft.now().toISOString(),
        );
        if (!done)
          throw new ServerError('RESOURCE_NOT_FOUND', `no active token ${request.params.id}`);
        return { result: undefined, resourceId: request.params.id, change: { revoked: true } };
      });
      return reply.code(204).send();
    },
  );
};
