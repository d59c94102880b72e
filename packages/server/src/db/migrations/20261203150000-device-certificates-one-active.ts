import { type Kysely, sql } from 'kysely';

/**
 * At most one `active` operational certificate per device (docs/pki.md, Concurrent issuance):
 * two issuances racing on PostgreSQL could each supersede the old certificate and insert their
 * own. Existing duplicates are repaired first, as the service would have left them: the newest
 * (issued_at, then id) stays active, every older active one becomes `superseded` at the newest
 * one's issue time, so it keeps its `pki.rotationGraceSeconds` from then on. Then a partial
 * unique index (SQLite and PostgreSQL alike) makes a second active row impossible.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    UPDATE device_certificates
    SET state = 'superseded',
        superseded_at = (
          SELECT MAX(n.issued_at) FROM device_certificates n
          WHERE n.device_id = device_certificates.device_id AND n.state = 'active'
        )
    WHERE state = 'active'
      AND EXISTS (
        SELECT 1 FROM device_certificates n
        WHERE n.device_id = device_certificates.device_id
          AND n.state = 'active'
          AND (n.issued_at > device_certificates.issued_at
               OR (n.issued_at = device_certificates.issued_at AND n.id > device_certificates.id))
      )
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX device_certificates_one_active
    ON device_certificates (device_id) WHERE state = 'active'
  `.execute(db);
}
