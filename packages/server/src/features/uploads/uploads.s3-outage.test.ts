import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startS3Server, type TestS3Server } from '../../testing/s3-server.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

// With blobs.store=s3 the chunks of upload sessions live in the bucket: while it cannot be
// reached a chunk is answered BLOB_STORE_UNAVAILABLE (503) and not acknowledged, and the same
// chunk is taken once the bucket is back.
describeEachDialect('upload sessions staged in S3 while the bucket is down', (dialect) => {
  let s3: TestS3Server;
  let server: TestServer;
  let me: Record<string, string>;
  beforeAll(async () => {
    s3 = await startS3Server();
    server = await createTestServer(dialect, {
      blobs: { store: 's3' },
      s3: { ...s3.config, prefix: 'outage/', timeoutMs: 1_000 },
    });
    me = { authorization: `Bearer ${(await server.tokenFor(['repository-admin'])).token}` };
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await s3?.dispose();
  });

  const put = (id: string, offset: number, bytes: Buffer) =>
    server.app.inject({
      method: 'PUT',
      url: `/api/v1/uploads/${id}?offset=${offset}`,
      headers: { ...me, 'content-type': 'application/octet-stream' },
      payload: bytes,
    });
  const offsetOf = async (id: string) =>
    (await server.app.inject({ method: 'GET', url: `/api/v1/uploads/${id}`, headers: me })).json()
      .offset as number;

  it('refuses the chunk with BLOB_STORE_UNAVAILABLE, acknowledges nothing, and takes it later', {
    timeout: 60_000,
  }, async () => {
    const created = await server.app.inject({
      method: 'POST',
      url: '/api/v1/uploads',
      headers: { ...me, 'content-type': 'application/json' },
      payload: { size: 2000 },
    });
    const id = created.json().id as string;
    const data = randomBytes(2000);
    expect((await put(id, 0, data.subarray(0, 1000))).statusCode).toBe(200);
    await s3.stop('SIGKILL');
    try {
      const refused = await put(id, 1000, data.subarray(1000));
      expect(refused.statusCode).toBe(503);
      expect(refused.json().code).toBe('BLOB_STORE_UNAVAILABLE');
      expect(await offsetOf(id)).toBe(1000);
    } finally {
      await s3.start();
    }
    // Nothing of the refused chunk stayed in this replica's spool.
    expect(await readdir(path.join(server.dataDir, 'upload-spool'))).toEqual([]);
    expect((await put(id, 1000, data.subarray(1000))).statusCode).toBe(200);
    expect(await offsetOf(id)).toBe(2000);
  });
});
