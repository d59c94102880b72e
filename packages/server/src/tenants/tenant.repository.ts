import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/database.js';

/** The tenant every resource belongs to in embedded (single-tenant) mode. */
export const DEFAULT_TENANT_ID = 'ten_default';

/** Creates a tenant if missing; returns its id. */
export async function ensureTenant(
  db: Kysely<Database>,
  id: string,
  name: string,
  now: string,
): Promise<string> {
  await db
    .insertInto('tenants')
    .values({ id, name, created_at: now })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return id;
}

/** A tenant as the API shows it. */
export interface TenantView {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
}

/** The tenant with this name, or undefined. */
export async function findTenantByName(
  db: Kysely<Database> | Transaction<Database>,
  name: string,
): Promise<TenantView | undefined> {
  const row = await db
    .selectFrom('tenants')
    .select(['id', 'name', 'created_at'])
    .where('name', '=', name)
    .executeTakeFirst();
  return row && { id: row.id, name: row.name, createdAt: row.created_at };
}

/** Every tenant, by name. */
export async function listTenants(db: Kysely<Database>): Promise<TenantView[]> {
  const rows = await db
    .selectFrom('tenants')
    .select(['id', 'name', 'created_at'])
    .orderBy('name')
    .execute();
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at }));
}

/** Inserts a tenant (the name is unique: a duplicate fails the transaction). */
export async function insertTenant(
  trx: Transaction<Database>,
  tenant: { id: string; name: string },
  now: string,
): Promise<TenantView> {
  await trx
    .insertInto('tenants')
    .values({ id: tenant.id, name: tenant.name, created_at: now })
    .execute();
  return { id: tenant.id, name: tenant.name, createdAt: now };
}
