import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { type Fleet, seedFleet, uploadRelease } from '../releases/release-test-fixtures.js';
import { workerEncoder } from './delta-encoder.js';
import { deltaServiceOf } from './delta-service.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// A long encoding must not hold up a server's shutdown: closing stops the encoder's thread and
// leaves the record to be asked for again after a restart.
describeEachDialect('delta worker shutdown', (dialect) => {
  let server: TestServer;
  let fleet: Fleet;

  beforeAll(async () => {
    server = await createTestServer(dialect);
    fleet = await seedFleet(server.app.updraft.db);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('stops a running encoding at once and keeps its record for later', async () => {
    const deltas = deltaServiceOf(server.app.updraft);
    deltas.encoder = workerEncoder;
    const admin = { ...(await server.adminHeaders()), 'content-type': 'application/json' };
    const ids: string[] = [];
    const old = randomBytes(4 << 20);
    const next = Buffer.concat([
      old.subarray(0, 1 << 20),
      randomBytes(4096),
      old.subarray(1 << 20),
    ]);
    for (const [seq, image] of [
      [1, old],
      [2, next],
    ] as const) {
      ids.push(await uploadRelease(server.app, admin, fleet, seq, [image], `${seq}.0.0`));
    }
    const res = await server.app.inject({
      method: 'PUT',
      url: `/api/v1/releases/${ids[1]}/delta-bases`,
      headers: admin,
      payload: { bases: ['1.0.0'], anyInstalled: false },
    });
    expect(res.statusCode).toBe(200);
    const state = async () =>
      (
        await server.app.updraft.db
          .selectFrom('deltas')
          .select('state')
          .where('target_digest', '=', sha(next))
          .executeTakeFirst()
      )?.state;
    await expect.poll(state, { timeout: 20_000 }).toBe('building');
    const started = Date.now();
    await deltas.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await state()).toBe('building');
    expect(deltas.worker.enqueue('x', { tenantId: 't', baseDigest: 'a', targetDigest: 'b' })).toBe(
      'closed',
    );
  });
});
