import type { Kysely, Transaction } from 'kysely';
import type { Role } from '../../auth/permissions.js';
import type { UserPrincipal } from '../../auth/principal.js';
import { hashPassword, newId, verifyPassword } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import type { RateLimiter } from '../../http/rate-limit.js';
import {
  DEFAULT_TENANT_ID,
  findTenantByName,
  insertTenant,
  listTenants,
  type TenantView,
} from '../../tenants/tenant.repository.js';
import { type AuditEntry, appendAudit } from '../audit/audit.repository.js';
import type { ChangeContext } from '../releases/release.service.js';
import { issueToken, listTokens, revokeToken, type TokenView } from './token.repository.js';
import {
  countActiveAdmins,
  createUser,
  disableUser,
  findUserForLogin,
  getUser,
  listUsers,
  lockAdminSet,
  passwordHashOf,
  revokeTokensOf,
  setPassword,
  setUserRoles,
  type UserView,
} from './user.repository.js';

/** Where a request comes from, for rate limits and the audit log. */
export interface RequestOrigin {
  readonly ip: string;
  readonly requestId: string;
}

/** What a successful login returns. */
export interface LoginResult {
  readonly token: string;
  readonly expiresAt: string;
  readonly user: UserView;
  /** Only `POST /me/password` (and `GET /me`) are allowed with this session until it is changed. */
  readonly passwordChangeRequired: boolean;
}

/** Settings the service reads. */
export interface UserServiceOptions {
  readonly sessionTtlSeconds: number;
}

const INVALID_CREDENTIALS = 'Unknown user or wrong password.';

// Used when the user does not exist, so a login costs the same either way (no user enumeration).
const DUMMY_HASH = await hashPassword('updraft-dummy-password');

/**
 * Users, their passwords, roles and tokens, and tenants. Every change runs in one transaction
 * with its audit entry. Rules kept here: a tenant always keeps an enabled admin (checked under a
 * lock on the tenant's admin set, so concurrent demotions cannot both pass); a generated or
 * admin-set password must be changed before anything else; a login session mints only expiring
 * API tokens unless its user is an admin; only the installation's admins (admins of the default
 * tenant) create tenants.
 */
export class UserService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly limiter: RateLimiter,
    private readonly options: UserServiceOptions,
    private readonly now: () => Date,
  ) {}

  /**
   * Checks a username and password (in the default tenant unless `tenant` names another) and
   * opens a session. Failures count against the address and the username; past the budget the
   * username is refused from that address before the password is checked.
   */
  async login(
    origin: RequestOrigin,
    input: { username: string; password: string; tenant?: string | undefined },
  ): Promise<LoginResult> {
    const attempt = await this.limiter.loginAttempt(
      origin.ip,
      `${input.tenant ?? ''}/${input.username}`,
    );
    const tenantId =
      input.tenant === undefined
        ? DEFAULT_TENANT_ID
        : (await findTenantByName(this.db, input.tenant))?.id;
    const row =
      tenantId === undefined
        ? undefined
        : await findUserForLogin(this.db, tenantId, input.username);
    const ok = await verifyPassword(input.password, row?.password_hash ?? DUMMY_HASH);
    if (!row || !ok || row.disabled_at !== null || tenantId === undefined) {
      throw attempt.failed(new ServerError('AUTH_INVALID_CREDENTIALS', INVALID_CREDENTIALS));
    }
    await attempt.succeeded();
    const now = this.now();
    const expiresAt = new Date(now.getTime() + this.options.sessionTtlSeconds * 1000).toISOString();
    const token = await this.#change(
      { tenantId, actorId: row.id, ip: origin.ip, requestId: origin.requestId },
      { action: 'auth.login', resourceType: 'user', resourceId: row.id, status: 200 },
      async (trx) => {
        const issued = await issueToken(
          trx,
          tenantId,
          { userId: row.id, kind: 'session', name: 'login', expiresAt },
          now.toISOString(),
        );
        return { result: issued.token, change: { session: true } };
      },
    );
    const user = await getUser(this.db, tenantId, row.id);
    if (!user) throw new ServerError('AUTH_INVALID_CREDENTIALS', INVALID_CREDENTIALS);
    return {
      token,
      expiresAt,
      user,
      passwordChangeRequired: Number(row.must_change_password) === 1,
    };
  }

  /**
   * Ends the caller's login session (revokes its token). An API token is not a session: it stays
   * (revoke it with the token routes) and the answer says nothing ended.
   */
  async logout(origin: RequestOrigin, me: UserPrincipal): Promise<{ sessionEnded: boolean }> {
    return this.#change(
      { tenantId: me.tenantId, actorId: me.userId, ip: origin.ip, requestId: origin.requestId },
      { action: 'auth.logout', resourceType: 'token', resourceId: me.tokenId },
      async (trx) => {
        const sessionEnded =
          me.tokenKind === 'session' &&
          (await revokeToken(trx, me.tenantId, me.userId, me.tokenId, this.now().toISOString()));
        return { result: { sessionEnded }, change: { sessionEnded } };
      },
    );
  }

  /** The signed-in user. */
  async me(me: UserPrincipal): Promise<UserView> {
    const user = await getUser(this.db, me.tenantId, me.userId);
    if (!user) throw new ServerError('RESOURCE_NOT_FOUND', 'user not found');
    return user;
  }

  /**
   * Changes the caller's own password after checking the current one; revokes the caller's
   * other login sessions (API tokens stay: list and revoke them with the token routes).
   */
  async changeOwnPassword(
    origin: RequestOrigin,
    me: UserPrincipal,
    input: { currentPassword: string; newPassword: string },
  ): Promise<{ sessionsRevoked: number }> {
    const attempt = await this.limiter.loginAttempt(origin.ip, `password/${me.userId}`);
    const stored = await passwordHashOf(this.db, me.tenantId, me.userId);
    if (stored === undefined || !(await verifyPassword(input.currentPassword, stored))) {
      throw attempt.failed(
        new ServerError('AUTH_INVALID_CREDENTIALS', 'The current password is wrong.'),
      );
    }
    await attempt.succeeded();
    if (input.newPassword === input.currentPassword)
      throw new ServerError(
        'RESOURCE_INVALID',
        'the new password must differ from the current one',
      );
    const passwordHash = await hashPassword(input.newPassword);
    return this.#change(
      { tenantId: me.tenantId, actorId: me.userId, ip: origin.ip, requestId: origin.requestId },
      { action: 'user.change-password', resourceType: 'user', resourceId: me.userId },
      async (trx) => {
        await setPassword(trx, me.tenantId, me.userId, passwordHash, false);
        const sessionsRevoked = await revokeTokensOf(
          trx,
          me.tenantId,
          me.userId,
          this.now().toISOString(),
          { kind: 'session', keepTokenId: me.tokenId },
        );
        return { result: { sessionsRevoked }, change: { password: 'changed', sessionsRevoked } };
      },
    );
  }

  /**
   * An admin sets another user's password: every token of that user is revoked, and the user
   * must change the password at the next login.
   */
  async resetPassword(ctx: ChangeContext, userId: string, newPassword: string): Promise<void> {
    if (userId === ctx.actorId)
      throw new ServerError(
        'RESOURCE_CONFLICT',
        'change your own password with POST /api/v1/me/password (it needs the current one)',
      );
    const passwordHash = await hashPassword(newPassword);
    await this.#change(
      ctx,
      { action: 'user.reset-password', resourceType: 'user', resourceId: userId },
      async (trx) => {
        if (!(await setPassword(trx, ctx.tenantId, userId, passwordHash, true)))
          throw new ServerError('RESOURCE_NOT_FOUND', `no active user ${userId}`);
        const tokensRevoked = await revokeTokensOf(
          trx,
          ctx.tenantId,
          userId,
          this.now().toISOString(),
        );
        return {
          result: undefined,
          change: { password: 'reset', mustChangePassword: true, tokensRevoked },
        };
      },
    );
  }

  /** Users of the caller's tenant. */
  list(tenantId: string): Promise<UserView[]> {
    return listUsers(this.db, tenantId);
  }

  /** One user of the tenant. */
  async get(tenantId: string, userId: string): Promise<UserView> {
    const user = await getUser(this.db, tenantId, userId);
    if (!user) throw new ServerError('RESOURCE_NOT_FOUND', `no user ${userId}`);
    return user;
  }

  /** Creates a user; with `mustChangePassword` the user changes the password at first login. */
  async create(
    ctx: ChangeContext,
    input: {
      username: string;
      password: string;
      roles: readonly Role[];
      mustChangePassword?: boolean;
    },
  ): Promise<UserView> {
    const passwordHash = await hashPassword(input.password);
    if (await findUserForLogin(this.db, ctx.tenantId, input.username))
      throw new ServerError('RESOURCE_CONFLICT', `user ${input.username} exists`);
    const mustChangePassword = input.mustChangePassword ?? false;
    return this.#change(
      ctx,
      { action: 'user.create', resourceType: 'user', status: 201 },
      async (trx) => {
        const created = await createUser(
          trx,
          ctx.tenantId,
          { username: input.username, passwordHash, roles: input.roles, mustChangePassword },
          this.now().toISOString(),
        );
        return {
          result: created,
          resourceId: created.id,
          change: { username: input.username, roles: input.roles, mustChangePassword },
        };
      },
    );
  }

  /** Replaces a user's roles; refused when it would leave the tenant without an enabled admin. */
  async setRoles(ctx: ChangeContext, userId: string, roles: readonly Role[]): Promise<UserView> {
    const before = await this.get(ctx.tenantId, userId);
    await this.#change(
      ctx,
      { action: 'user.set-roles', resourceType: 'user', resourceId: userId },
      async (trx) => {
        await lockAdminSet(trx, ctx.tenantId);
        if (!(await setUserRoles(trx, ctx.tenantId, userId, roles)))
          throw new ServerError('RESOURCE_NOT_FOUND', `no user ${userId}`);
        await keepAnAdmin(trx, ctx.tenantId);
        return { result: undefined, change: { from: before.roles, to: roles } };
      },
    );
    return this.get(ctx.tenantId, userId);
  }

  /** Disables a user and revokes its tokens; refused for oneself and for the last admin. */
  async disable(ctx: ChangeContext, userId: string): Promise<void> {
    if (userId === ctx.actorId)
      throw new ServerError('RESOURCE_CONFLICT', 'you cannot disable yourself');
    await this.#change(
      ctx,
      { action: 'user.disable', resourceType: 'user', resourceId: userId },
      async (trx) => {
        await lockAdminSet(trx, ctx.tenantId);
        const done = await disableUser(trx, ctx.tenantId, userId, this.now().toISOString());
        if (!done) throw new ServerError('RESOURCE_NOT_FOUND', `no active user ${userId}`);
        await keepAnAdmin(trx, ctx.tenantId);
        return { result: undefined, change: { disabled: true, tokensRevoked: true } };
      },
    );
  }

  /** The caller's tokens, newest first. */
  tokens(me: UserPrincipal): Promise<TokenView[]> {
    return listTokens(this.db, me.tenantId, me.userId);
  }

  /**
   * Issues an API token for the caller; the secret is returned once. A login session of a user
   * who is not an admin may only mint tokens that expire (a stolen session must not turn into a
   * credential that lives forever).
   */
  async createToken(
    ctx: ChangeContext,
    me: UserPrincipal,
    input: { name: string; expiresInDays?: number | undefined },
  ): Promise<{ token: string; view: TokenView }> {
    if (
      input.expiresInDays === undefined &&
      me.tokenKind === 'session' &&
      !me.roles.includes('admin')
    ) {
      throw new ServerError(
        'RESOURCE_INVALID',
        'a token created with a login session must expire: give expiresInDays (only admins may create tokens that never expire)',
      );
    }
    const now = this.now();
    const expiresAt =
      input.expiresInDays === undefined
        ? null
        : new Date(now.getTime() + input.expiresInDays * 86_400_000).toISOString();
    return this.#change(
      ctx,
      { action: 'token.create', resourceType: 'token', status: 201 },
      async (trx) => {
        const out = await issueToken(
          trx,
          me.tenantId,
          { userId: me.userId, kind: 'api', name: input.name, expiresAt },
          now.toISOString(),
        );
        return { result: out, resourceId: out.view.id, change: { name: input.name, expiresAt } };
      },
    );
  }

  /** Revokes one of the caller's tokens. */
  async revokeToken(ctx: ChangeContext, me: UserPrincipal, tokenId: string): Promise<void> {
    await this.#change(
      ctx,
      { action: 'token.revoke', resourceType: 'token', resourceId: tokenId },
      async (trx) => {
        const done = await revokeToken(
          trx,
          me.tenantId,
          me.userId,
          tokenId,
          this.now().toISOString(),
        );
        if (!done) throw new ServerError('RESOURCE_NOT_FOUND', `no active token ${tokenId}`);
        return { result: undefined, change: { revoked: true } };
      },
    );
  }

  /** Every tenant (installation admins only). */
  async tenants(me: UserPrincipal): Promise<TenantView[]> {
    requireInstallationAdmin(me);
    return listTenants(this.db);
  }

  /**
   * Creates a tenant and its first admin (installation admins only). The admin's password was
   * chosen by the installation admin, so it must be changed at the first login.
   */
  async createTenant(
    ctx: ChangeContext,
    me: UserPrincipal,
    input: { name: string; adminUsername: string; adminPassword: string },
  ): Promise<{ tenant: TenantView; admin: UserView }> {
    requireInstallationAdmin(me);
    if (await findTenantByName(this.db, input.name))
      throw new ServerError('RESOURCE_CONFLICT', `tenant ${input.name} exists`);
    const passwordHash = await hashPassword(input.adminPassword);
    const at = this.now().toISOString();
    return this.#change(
      ctx,
      { action: 'tenant.create', resourceType: 'tenant', status: 201 },
      async (trx) => {
        const tenant = await insertTenant(trx, { id: newId('ten'), name: input.name }, at);
        const admin = await createUser(
          trx,
          tenant.id,
          {
            username: input.adminUsername,
            passwordHash,
            roles: ['admin'],
            mustChangePassword: true,
          },
          at,
        );
        return {
          result: { tenant, admin },
          resourceId: tenant.id,
          change: { name: input.name, adminUsername: input.adminUsername },
        };
      },
    );
  }

  // One transaction: the change and its audit entry commit together.
  async #change<T>(
    ctx: ChangeContext,
    entry: Pick<AuditEntry, 'action' | 'resourceType'> & {
      resourceId?: string;
      status?: number;
    },
    work: (
      trx: Transaction<Database>,
    ) => Promise<{ result: T; resourceId?: string; change: Record<string, unknown> }>,
  ): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      const done = await work(trx);
      await appendAudit(
        trx,
        {
          tenantId: ctx.tenantId,
          actorType: 'user',
          actorId: ctx.actorId,
          action: entry.action,
          resourceType: entry.resourceType,
          resourceId: done.resourceId ?? entry.resourceId ?? null,
          change: done.change,
          ip: ctx.ip,
          outcome: 'success',
          status: entry.status ?? 200,
          requestId: ctx.requestId,
        },
        this.now().toISOString(),
      );
      return done.result;
    });
  }
}

/** Fails (rolling the change back) when it would leave the tenant without an enabled admin. */
async function keepAnAdmin(trx: Transaction<Database>, tenantId: string): Promise<void> {
  if ((await countActiveAdmins(trx, tenantId)) === 0) {
    throw new ServerError('RESOURCE_CONFLICT', 'this change would leave no enabled admin');
  }
}

/** The installation's admins are the admins of its default tenant (the one made at first start). */
function requireInstallationAdmin(me: UserPrincipal): void {
  if (me.tenantId !== DEFAULT_TENANT_ID || !me.roles.includes('admin'))
    throw new ServerError(
      'AUTH_FORBIDDEN',
      'only admins of the installation (the default tenant) manage tenants',
    );
}
