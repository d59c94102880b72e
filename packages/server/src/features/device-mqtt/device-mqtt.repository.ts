import type { Kysely } from 'kysely';
import type { DevicePrincipal } from '../../auth/principal.js';
import type { Database } from '../../db/database.js';

/**
 * The device a request topic names (`CN=<name>,O=<tenant>`), as a principal, when it may use the
 * device API: accepted and not decommissioned. One indexed statement (unique tenant + name).
 * The broker authenticated the connection, so the principal names no device token.
 */
export async function findMqttDevice(
  db: Kysely<Database>,
  tenantId: string,
  name: string,
): Promise<DevicePrincipal | undefined> {
  const row = await db
    .selectFrom('devices')
    .select(['id', 'device_class_id'])
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .where('decommissioned_at', 'is', null)
    .where('admission', '=', 'accepted')
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return { kind: 'device', tenantId, deviceId: row.id, deviceClassId: row.device_class_id };
}
