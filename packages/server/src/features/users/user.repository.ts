import type { Kysely, Transaction } from 'kysely';
import type { Role } from '../../auth/permissions.js';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import './user.table.js';

/** A user as the API shows it (never the password hash). */
export interface UserView {
  readonly id: string;
  readonly username: string;
  readonly roles: readonly Role[];
  readonly createdAt: string;
  readonly disabledAt: string | null;
}

type Db = Kysely<Database> | Transaction<Database>;

/** Inserts a user and its roles. */
export async function createUser(
  trx: Transaction<Database>,
  tenantId: string,
  input: {
    username: string;
    passwordHash: string;
    roles: readonly Role[];
    /** The password was generated or chosen by someone else: change it at first login. */
    mustChangePassword?: boolean;
  },
  now: string,
): Promise<UserView> {
  const id = newId('usr');
  await trx
    .insertInto('users')
    .values({
      id,
      tenant_id: tenantId,
      username: input.username,
      password_hash: input.passwordHash,
      must_change_password: input.mustChangePassword ? 1 : 0,
      created_at: now,
      disabled_at: null,
    })
    .execute();
  await setUserRoles(trx, tenantId, id, input.roles);
  return {
    id,
    username: input.username,
    roles: [...input.roles],
    createdAt: now,
    disabledAt: null,
  };
}

/** Replaces a user's roles; false when the user is not in this tenant (nothing written). */
export async function setUserRoles(
  trx: Transaction<Database>,
  tenantId: string,
  userId: string,
  roles: readonly Role[],
): Promise<boolean> {
  const owned = await trx
    .selectFrom('users')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!owned) return false;
  await trx
    .deleteFrom('user_roles')
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .execute();
  if (roles.length > 0) {
    await trx
      .insertInto('user_roles')
      .values([...new Set(roles)].map((role) => ({ tenant_id: tenantId, user_id: userId, role })))
      .execute();
  }
  return true;
}

/** The user with this name in this tenant, with its password hash (for login only). */
export async function findUserForLogin(db: Db, tenantId: string, username: string) {
  return db
    .selectFrom('users')
    .select(['id', 'username', 'password_hash', 'disabled_at', 'must_change_password'])
    .where('tenant_id', '=', tenantId)
    .where('username', '=', username)
    .executeTakeFirst();
}

/** A user's password hash, by id (password change only). */
export async function passwordHashOf(
  db: Db,
  tenantId: string,
  userId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('users')
    .select('password_hash')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', userId)
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  return row?.password_hash;
}

/** Sets a user's password hash and whether it must be changed; false when not in this tenant. */
export async function setPassword(
  trx: Transaction<Database>,
  tenantId: string,
  userId: string,
  passwordHash: string,
  mustChange: boolean,
): Promise<boolean> {
  const result = await trx
    .updateTable('users')
    .set({ password_hash: passwordHash, must_change_password: mustChange ? 1 : 0 })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', userId)
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Serialises changes to a tenant's admin set: every transaction that may remove an admin calls
 * this first. A no-op write on the tenant's row takes a row lock on PostgreSQL (a second
 * transaction waits here until the first commits, then sees its result); SQLite runs one writer
 * at a time anyway. Without it, two admins demoting each other at once could both see the other
 * still an admin and leave none.
 */
export async function lockAdminSet(trx: Transaction<Database>, tenantId: string): Promise<void> {
  await trx
    .updateTable('tenants')
    .set((eb) => ({ name: eb.ref('name') }))
    .where('id', '=', tenantId)
    .execute();
}

/** Roles of one user. */
export async function rolesOf(db: Db, tenantId: string, userId: string): Promise<Role[]> {
  const rows = await db
    .selectFrom('user_roles')
    .select('role')
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .orderBy('role')
    .execute();
  return rows.map((r) => r.role as Role);
}

/** Users of a tenant with their roles, ordered by name. */
export async function listUsers(db: Db, tenantId: string): Promise<UserView[]> {
  const users = await db
    .selectFrom('users')
    .select(['id', 'username', 'created_at', 'disabled_at'])
    .where('tenant_id', '=', tenantId)
    .orderBy('username')
    .execute();
  const roles = await db
    .selectFrom('user_roles')
    .select(['user_id', 'role'])
    .where('tenant_id', '=', tenantId)
    .orderBy('role')
    .execute();
  return users.map((u) => ({
    id: u.id,
    username: u.username,
    roles: roles.filter((r) => r.user_id === u.id).map((r) => r.role as Role),
    createdAt: u.created_at,
    disabledAt: u.disabled_at,
  }));
}

/** One user, or undefined when it is not in this tenant. */
export async function getUser(
  db: Db,
  tenantId: string,
  userId: string,
): Promise<UserView | undefined> {
  const u = await db
    .selectFrom('users')
    .select(['id', 'username', 'created_at', 'disabled_at'])
    .where('tenant_id', '=', tenantId)
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!u) return undefined;
  return {
    id: u.id,
    username: u.username,
    roles: await rolesOf(db, tenantId, u.id),
    createdAt: u.created_at,
    disabledAt: u.disabled_at,
  };
}

/** Revokes a user's live tokens of `kind` (all kinds when absent), except `keepTokenId`. */
export async function revokeTokensOf(
  trx: Transaction<Database>,
  tenantId: string,
  userId: string,
  now: string,
  options: { kind?: 'session' | 'api'; keepTokenId?: string } = {},
): Promise<number> {
  let query = trx
    .updateTable('tokens')
    .set({ revoked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null);
  if (options.kind !== undefined) query = query.where('kind', '=', options.kind);
  if (options.keepTokenId !== undefined) query = query.where('id', '!=', options.keepTokenId);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Disables a user and revokes all its tokens; false when not in this tenant. */
export async function disableUser(
  trx: Transaction<Database>,
  tenantId: string,
  userId: string,
  now: string,
): Promise<boolean> {
  const result = await trx
    .updateTable('users')
    .set({ disabled_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', userId)
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  await revokeTokensOf(trx, tenantId, userId, now);
  return Number(result.numUpdatedRows) > 0;
}

/** Number of users in a tenant (first-start bootstrap). */
export async function countUsers(db: Db, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Enabled users holding the `admin` role in a tenant (a tenant must keep at least one). */
export async function countActiveAdmins(db: Db, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('user_roles as r')
    .innerJoin('users as u', (join) =>
      join.onRef('u.id', '=', 'r.user_id').onRef('u.tenant_id', '=', 'r.tenant_id'),
    )
    .select((eb) => eb.fn.countAll().as('n'))
    .where('r.tenant_id', '=', tenantId)
    .where('r.role', '=', 'admin')
    .where('u.disabled_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
