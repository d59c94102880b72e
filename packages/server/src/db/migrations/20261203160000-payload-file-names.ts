import type { Kysely } from 'kysely';

/**
 * A release payload keeps the file name it was uploaded under (`fw.swu`, `rootfs.mender`): the
 * hawkBit DDI API offers artifacts by file name and clients such as SWUpdate and mender-client
 * recognise their formats by it (docs/hawkbit-ddi.md, docs/mender-api.md). Null for payloads
 * uploaded without one; they are offered as `<component id>.bin`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('release_payloads').addColumn('file_name', 'text').execute();
}
