import type { Kysely } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { semverKey } from '../../features/filters/semver-key.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { backfillVersionKeys } from './20261203090000-device-groups.js';

describeEachDialect('migration 20261203090000: version keys', (dialect) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase(dialect);
  });
  afterAll(() => db?.dispose());

  it('back-fills the semver key of every recorded version, page by page', async () => {
    const kdb = db.handle.db;
    const at = '2026-12-03T00:00:00.000Z';
    await kdb.insertInto('tenants').values({ id: 't', name: 't', created_at: at }).execute();
    await kdb
      .insertInto('device_classes')
      .values({
        id: 'c',
        tenant_id: 't',
        name: 'c',
        vendor_name: null,
        model_name: null,
        vendor_id: '00000000-0000-0000-0000-000000000000',
        class_id: '00000000-0000-0000-0000-000000000001',
        created_at: at,
      })
      .execute();
    const versions = ['1.0.0', '1.10.0', '2.0.0-rc.1', 'garbage', null, '1.9.0', '3.0.0'];
    for (const [i, version] of versions.entries()) {
      const id = `d${i}`;
      await kdb
        .insertInto('devices')
        .values({
          id,
          tenant_id: 't',
          name: id,
          device_class_id: 'c',
          created_at: at,
          last_seen_at: null,
          decommissioned_at: null,
        })
        .execute();
      // As rows written before the migration: no key.
      for (const component of ['a', 'b'])
        await kdb
          .insertInto('device_components')
          .values({
            tenant_id: 't',
            device_id: id,
            component_id: component,
            version,
            sequence_number: 1,
            digest: null,
            updated_at: at,
            version_key: null,
          })
          .execute();
    }
    await backfillVersionKeys(kdb as unknown as Kysely<unknown>, 3);
    const rows = await kdb
      .selectFrom('device_components')
      .select(['version', 'version_key'])
      .execute();
    expect(rows).toHaveLength(versions.length * 2);
    for (const row of rows)
      expect(row.version_key).toBe(row.version === null ? null : (semverKey(row.version) ?? null));
    expect(rows.filter((r) => r.version_key !== null)).toHaveLength(10);
  });
});
