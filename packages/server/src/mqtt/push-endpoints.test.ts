import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Database } from '../db/database.js';
import { PushEndpoints } from './push-endpoints.js';

/** A database that answers every device-name lookup and counts them. */
function countingDb() {
  const seen: string[] = [];
  const db = {
    selectFrom: () => ({
      select: () => ({
        where: () => ({
          where: (_c: string, _op: string, deviceId: string) => ({
            executeTakeFirst: async () => {
              seen.push(deviceId);
              return { name: `name-${deviceId}` };
            },
          }),
        }),
      }),
    }),
  } as unknown as Kysely<Database>;
  return { db, seen };
}

describe('PushEndpoints', () => {
  it('keeps at most maxEntries devices, dropping the oldest one at a time (not all at once)', async () => {
    const { db, seen } = countingDb();
    const endpoints = new PushEndpoints(
      db,
      () => 'mqtts://broker:8883',
      { subscribe: () => () => undefined },
      2,
    );
    for (const id of ['a', 'b', 'c']) await endpoints.of('ten', id);
    expect(seen).toEqual(['a', 'b', 'c']);
    // b and c are still cached: a fleet just above the bound does not read every name again.
    await endpoints.of('ten', 'b');
    await endpoints.of('ten', 'c');
    expect(seen).toEqual(['a', 'b', 'c']);
    // a was the oldest: read again.
    const a = await endpoints.of('ten', 'a');
    expect(seen).toEqual(['a', 'b', 'c', 'a']);
    expect(a?.topicRoot).toContain('name-a');
  });
});

describe('PushEndpoints with the name already read', () => {
  it('builds the endpoint from a name the caller read with the credential, with no lookup', async () => {
    const { db, seen } = countingDb();
    const endpoints = new PushEndpoints(db, () => 'mqtts://broker:8883', {
      subscribe: () => () => undefined,
    });
    const known = await endpoints.of('ten', 'a', 'thermostat-7');
    expect(seen).toEqual([]);
    expect(known?.topicRoot).toContain('thermostat-7');
    // Kept like a looked-up one: the next poll gets the same object (its memoised idle ETag).
    expect(await endpoints.of('ten', 'a')).toBe(known);
    expect(seen).toEqual([]);
  });
});
