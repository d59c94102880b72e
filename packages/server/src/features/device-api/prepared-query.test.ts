import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { preparedQuery } from './prepared-query.js';

describeEachDialect('preparedQuery', (dialect) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    const at = new Date().toISOString();
    await t.handle.db
      .insertInto('tenants')
      .values([
        { id: 'ten_a', name: 'a', created_at: at },
        { id: 'ten_b', name: 'b', created_at: at },
      ])
      .execute();
  });
  afterAll(() => t?.dispose());

  it('runs one compiled query with new parameter values each time', async () => {
    const db = t.handle.db;
    const byId = preparedQuery(db, ['id', 'name'], (p) =>
      db
        .selectFrom('tenants')
        .select(['id', 'name'])
        .where('id', '=', p.id)
        .where('name', '=', p.name),
    );
    expect(await byId({ id: 'ten_a', name: 'a' })).toEqual([{ id: 'ten_a', name: 'a' }]);
    expect(await byId({ id: 'ten_b', name: 'b' })).toEqual([{ id: 'ten_b', name: 'b' }]);
    expect(await byId({ id: 'ten_b', name: 'a' })).toEqual([]);
  });

  it('refuses a parameter the query does not use', () => {
    const db = t.handle.db;
    expect(() =>
      preparedQuery(db, ['id', 'unused'], (p) =>
        db.selectFrom('tenants').selectAll().where('id', '=', p.id),
      ),
    ).toThrow(/unused/);
  });
});
