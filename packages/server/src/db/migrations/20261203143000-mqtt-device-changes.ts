import { type Kysely, sql } from 'kysely';
import type { DialectSupport } from '../dialect-support.js';

/**
 * MQTT (docs/mqtt.md): the device change feed also tells of a device's name and admission and
 * of its certificates' state, so the embedded broker checks an open connection again at once
 * (revocation disconnects) and the check-in's topic root follows a rename (PostgreSQL triggers;
 * SQLite installs its triggers at start).
 */
export async function up(db: Kysely<unknown>, support: DialectSupport): Promise<void> {
  for (const statement of support.mqttDeviceChangeTriggerStatements())
    await sql.raw(statement).execute(db);
}
