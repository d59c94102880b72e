import type { Compilable, CompiledQuery, Kysely } from 'kysely';
import { markHotStatement } from '../../db/create-database.js';

/**
 * A query built and compiled once, run many times with new parameter values: the hot device
 * paths skip Kysely's per-call building and compiling (most of an indexed lookup's cost).
 * `build` receives placeholder values; each placeholder in the compiled parameters is replaced
 * by the matching argument on every run. Dialect-neutral: the SQL is compiled by the db's own
 * dialect; on PostgreSQL the statement is also kept prepared per connection.
 *
 * @example
 * const byId = preparedQuery(db, ['id'], (p) => db.selectFrom('devices').selectAll().where('id', '=', p.id));
 * const rows = await byId({ id: 'dev_1' });
 */
export function preparedQuery<K extends string, Row, DB>(
  db: Kysely<DB>,
  keys: readonly K[],
  build: (placeholders: Record<K, string>) => Compilable<Row>,
): (args: Record<K, unknown>) => Promise<Row[]> {
  const placeholders = Object.fromEntries(
    keys.map((k) => [k, `\u0000updraft-param:${k}`]),
  ) as Record<K, string>;
  const byPlaceholder = new Map<unknown, K>(keys.map((k) => [placeholders[k], k]));
  const compiled = build(placeholders).compile();
  markHotStatement(compiled.sql);
  const slots = compiled.parameters.map((p) => byPlaceholder.get(p));
  const missing = keys.filter((k) => !slots.includes(k));
  if (missing.length > 0)
    throw new Error(`preparedQuery: parameter(s) ${missing.join(', ')} not used by the query`);
  return async (args) => {
    const parameters = compiled.parameters.map((p, i) => {
      const key = slots[i];
      return key === undefined ? p : args[key];
    });
    const query: CompiledQuery<Row> = { ...compiled, parameters };
    return (await db.executeQuery(query)).rows;
  };
}
