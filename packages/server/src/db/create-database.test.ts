import type { SqliteStatement } from 'kysely';
import { describe, expect, it } from 'vitest';
import { withStatementCache } from './create-database.js';

function fakeNative() {
  const prepared: string[] = [];
  let closed = false;
  return {
    prepared,
    isClosed: () => closed,
    native: {
      close: () => {
        closed = true;
      },
      prepare: (sql: string) => {
        prepared.push(sql);
        return { reader: true, sql } as unknown as SqliteStatement;
      },
    },
  };
}

describe('withStatementCache', () => {
  it('prepares each SQL text once and returns the same statement', () => {
    const f = fakeNative();
    const cached = withStatementCache(f.native, 2);
    const a = cached.prepare('select 1');
    expect(cached.prepare('select 1')).toBe(a);
    expect(f.prepared).toEqual(['select 1']);
  });

  it('evicts the least recently used statement beyond its size', () => {
    const f = fakeNative();
    const cached = withStatementCache(f.native, 2);
    cached.prepare('a');
    cached.prepare('b');
    cached.prepare('a'); // a is now the most recent
    cached.prepare('c'); // evicts b
    cached.prepare('a');
    cached.prepare('b');
    expect(f.prepared).toEqual(['a', 'b', 'c', 'b']);
  });

  it('closes the underlying handle', () => {
    const f = fakeNative();
    withStatementCache(f.native).close();
    expect(f.isClosed()).toBe(true);
  });
});
