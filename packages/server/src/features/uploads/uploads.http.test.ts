import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Fleet, seedFleet, signedEnvelope } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

// Upload sessions over HTTP (issue 9: 2.9, 3.9): a session is its creator's, the bounds come
// from the `uploads.*` settings, and a failed or refused upload leaves the staging dirs empty.
describeEachDialect('upload sessions over HTTP', (dialect) => {
  let server: TestServer;
  let alice: Record<string, string>;
  let bob: Record<string, string>;
  let admin: Record<string, string>;
  let fleet: Fleet;
  // Sessions' chunks and chunks being received, both beside the blobs (blobs.dir).
  const staged = async () => [
    ...(await readdir(path.join(server.dataDir, 'blobs', 'uploads'))),
    ...(await readdir(path.join(server.dataDir, 'blobs', 'upload-spool'))),
  ];

  beforeAll(async () => {
    server = await createTestServer(dialect, {
      uploads: { maxBytes: 4096, maxChunkBytes: 2048, maxSessionsPerUser: 2 },
    });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    alice = bearer((await server.tokenFor(['repository-admin'])).token);
    bob = bearer((await server.tokenFor(['repository-admin'])).token);
    admin = await server.adminHeaders();
    fleet = await seedFleet(server.app.updraft.db);
  });
  afterAll(() => server?.close());

  const open = (headers: Record<string, string>, size: number) =>
    server.app.inject({
      method: 'POST',
      url: '/api/v1/uploads',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: { size },
    });
  const put = (headers: Record<string, string>, id: string, offset: number, bytes: Buffer) =>
    server.app.inject({
      method: 'PUT',
      url: `/api/v1/uploads/${id}?offset=${offset}`,
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      payload: bytes,
    });

  it("keeps another repository-admin away from a user's session; an admin may delete it", async () => {
    const res = await open(alice, 100);
    expect(res.statusCode).toBe(201);
    const id = res.json().id as string;
    expect((await put(alice, id, 0, randomBytes(40))).statusCode).toBe(200);
    for (const r of [
      await server.app.inject({ method: 'GET', url: `/api/v1/uploads/${id}`, headers: bob }),
      await put(bob, id, 40, randomBytes(60)),
      await server.app.inject({ method: 'DELETE', url: `/api/v1/uploads/${id}`, headers: bob }),
    ]) {
      expect(r.statusCode).toBe(404);
      expect(r.json().code).toBe('RESOURCE_NOT_FOUND');
    }
    const mine = await server.app.inject({
      method: 'GET',
      url: `/api/v1/uploads/${id}`,
      headers: alice,
    });
    expect(mine.json()).toMatchObject({ offset: 40 });
    const deleted = await server.app.inject({
      method: 'DELETE',
      url: `/api/v1/uploads/${id}`,
      headers: admin,
    });
    expect(deleted.statusCode).toBe(204);
    expect(await staged()).toEqual([]);
  });

  it('takes its size limits and session bound from the configuration', async () => {
    let res = await open(alice, 4097);
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('UPLOAD_TOO_LARGE');
    const a = (await open(alice, 10)).json().id as string;
    const b = (await open(alice, 10)).json().id as string;
    res = await open(alice, 10);
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('UPLOAD_QUOTA_EXCEEDED');
    for (const id of [a, b])
      await server.app.inject({ method: 'DELETE', url: `/api/v1/uploads/${id}`, headers: alice });
  });

  it('leaves the staging directory empty after a refused chunk', async () => {
    const id = (await open(alice, 4000)).json().id as string;
    const res = await put(alice, id, 0, randomBytes(3000));
    expect(res.statusCode).toBe(413);
    expect(await staged()).toEqual([]);
    await server.app.inject({ method: 'DELETE', url: `/api/v1/uploads/${id}`, headers: alice });
  });

  it('leaves the staging directory empty after a refused release upload', async () => {
    const payload = randomBytes(1000);
    const envelope = await signedEnvelope(fleet, fleet.key, 1, [randomBytes(1000)]);
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: { ...alice, 'content-type': 'application/json' },
      payload: {
        deviceClassId: fleet.deviceClassId,
        envelope: Buffer.from(envelope).toString('base64'),
        payloads: [{ data: payload.toString('base64') }],
      },
    });
    expect(res.statusCode).toBe(422);
    expect(await staged()).toEqual([]);
    const rows = await server.app.updraft.db.selectFrom('upload_sessions').selectAll().execute();
    expect(rows).toEqual([]);
  });
});
