import type { Kysely, Transaction } from 'kysely';
import type { Role } from '../../auth/permissions.js';
import { hashToken, newId, newToken, type TokenKind } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import './user.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** A token as listed (never the secret or its hash). */
export interface TokenView {
  readonly id: string;
  readonly kind: string;
  readonly name: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
}

/** Issues a token for a user; the secret is returned once and only its hash is stored. */
export async function issueToken(
  trx: Transaction<Database>,
  tenantId: string,
  input: {
    userId: string;
    kind: Exclude<TokenKind, 'device'>;
    name: string;
    expiresAt: string | null;
  },
  now: string,
): Promise<{ token: string; view: TokenView }> {
  const token = newToken(input.kind);
  const id = newId('tok');
  await trx
    .insertInto('tokens')
    .values({
      id,
      tenant_id: tenantId,
      user_id: input.userId,
      kind: input.kind,
      name: input.name,
      token_hash: hashToken(token),
      created_at: now,
      expires_at: input.expiresAt,
      revoked_at: null,
    })
    .execute();
  return {
    token,
    view: {
      id,
      kind: input.kind,
      name: input.name,
      createdAt: now,
      expiresAt: input.expiresAt,
      revokedAt: null,
    },
  };
}

/** The live user behind a token secret (not revoked, not expired, user enabled), with roles. */
export async function resolveToken(db: Db, token: string, now: string) {
  const row = await db
    .selectFrom('tokens as t')
    .innerJoin('users as u', (join) =>
      join.onRef('u.id', '=', 't.user_id').onRef('u.tenant_id', '=', 't.tenant_id'),
    )
    .select([
      't.id as tokenId',
      't.tenant_id as tenantId',
      'u.id as userId',
      'u.username as username',
      't.kind as tokenKind',
      'u.must_change_password as mustChangePassword',
    ])
    .where('t.token_hash', '=', hashToken(token))
    .where('t.revoked_at', 'is', null)
    .where((eb) => eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', now)]))
    .where('u.disabled_at', 'is', null)
    .executeTakeFirst();
  if (!row) return undefined;
  const roles = await db
    .selectFrom('user_roles')
    .select('role')
    .where('tenant_id', '=', row.tenantId)
    .where('user_id', '=', row.userId)
    .execute();
  return {
    ...row,
    tokenKind: row.tokenKind as Exclude<TokenKind, 'device'>,
    mustChangePassword: Number(row.mustChangePassword) === 1,
    roles: roles.map((r) => r.role as Role),
  };
}

/** A user's tokens, newest first. */
export async function listTokens(db: Db, tenantId: string, userId: string): Promise<TokenView[]> {
  const rows = await db
    .selectFrom('tokens')
    .select(['id', 'kind', 'name', 'created_at', 'expires_at', 'revoked_at'])
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    name: r.name,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  }));
}

/** Revokes one of a user's tokens; false when not found in this tenant for this user. */
export async function revokeToken(
  trx: Transaction<Database>,
  tenantId: string,
  userId: string,
  tokenId: string,
  now: string,
): Promise<boolean> {
  const result = await trx
    .updateTable('tokens')
    .set({ revoked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .where('id', '=', tokenId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
