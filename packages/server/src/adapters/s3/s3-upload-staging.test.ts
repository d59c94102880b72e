import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/config.js';
import { startS3Server, type TestS3Server } from '../../testing/s3-server.js';
import { newSessionId, runUploadStagingContract } from '../../testing/upload-staging.contract.js';
import { createS3Client } from './s3-client.js';
import { S3UploadStaging } from './s3-upload-staging.js';

/** The `s3` settings of a test server, as `loadConfig` completes them. */
function settingsOf(s3: TestS3Server, prefix: string, timeoutMs = 5_000) {
  return loadConfig({
    overrides: { blobs: { store: 's3' }, s3: { ...s3.config, prefix, sse: 'AES256', timeoutMs } },
  }).s3;
}

async function stagingOn(s3: TestS3Server, prefix: string, timeoutMs?: number) {
  const settings = settingsOf(s3, prefix, timeoutMs);
  const client = createS3Client(settings);
  const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-s3-spool-'));
  const staging = new S3UploadStaging({ client, settings, spoolDir });
  await staging.init();
  return {
    staging,
    client,
    spoolDir,
    dispose: async () => {
      client.destroy();
      await rm(spoolDir, { recursive: true, force: true });
    },
  };
}

let s3: TestS3Server;
beforeAll(async () => {
  s3 = await startS3Server();
}, 30_000);
afterAll(() => s3?.dispose());

runUploadStagingContract('S3UploadStaging on s3rver', {
  create: () => stagingOn(s3, 'contract/'),
});

describe('S3UploadStaging', () => {
  it('keeps each acknowledged chunk as one object named by its zero-padded offset', async () => {
    const { staging, client, dispose } = await stagingOn(s3, 'layout/');
    try {
      const id = newSessionId();
      for (const [offset, size] of [
        [0, 7],
        [7, 3],
      ] as const) {
        const chunk = await staging.receive(id, Readable.from([Buffer.alloc(size, 1)]), 100);
        await chunk.place(offset);
        await chunk.discard();
      }
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'layout/' }),
      );
      expect((listed.Contents ?? []).map((o) => [o.Key, o.Size])).toEqual([
        [`layout/uploads/${id}/0000000000000000`, 7],
        [`layout/uploads/${id}/0000000000000007`, 3],
      ]);
      expect(await staging.list()).toEqual([id]);
    } finally {
      await dispose();
    }
  });

  it('answers BLOB_STORE_UNAVAILABLE while the bucket is unreachable, and places nothing', {
    timeout: 60_000,
  }, async () => {
    const { staging, spoolDir, dispose } = await stagingOn(s3, 'down/', 1_000);
    try {
      const id = newSessionId();
      const first = await staging.receive(id, Readable.from([Buffer.alloc(10, 1)]), 100);
      await first.place(0);
      await first.discard();
      await s3.stop('SIGKILL');
      // The body is spooled locally; putting it in the bucket is what fails.
      const second = await staging.receive(id, Readable.from([Buffer.alloc(10, 2)]), 100);
      await expect(second.place(10)).rejects.toMatchObject({ code: 'BLOB_STORE_UNAVAILABLE' });
      await second.discard();
      expect(await readdir(spoolDir)).toEqual([]);
      await expect(staging.list()).rejects.toMatchObject({ code: 'BLOB_STORE_UNAVAILABLE' });
      await s3.start();
      // Only the first chunk made it: the session holds 10 bytes, not 20.
      const stream = staging.read(id, 20);
      await expect(
        (async () => {
          for await (const _ of stream);
        })(),
      ).rejects.toMatchObject({ code: 'UPLOAD_INCOMPLETE' });
    } finally {
      await s3.start().catch(() => undefined);
      await dispose();
    }
  });
});
