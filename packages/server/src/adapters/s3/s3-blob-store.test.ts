import { afterAll, beforeAll, vi } from 'vitest';
import { runBlobStoreContract } from '../../testing/blob-store.contract.js';
import { startS3Server, type TestS3Server } from '../../testing/s3-server.js';
import { S3BlobStore } from './s3-blob-store.js';

/** S3's smallest part size. */
const PART = 5_242_880;
/**
 * Half a part: the contract's larger blobs (3½ and 4 blocks) then go multipart, its ranges meet
 * the part boundary at `2 × block`, and its hundred ranged reads move a tenth of a GB rather than
 * half of one (s3rver serves some 50 MB/s here). The multipart specifics (parts sent, aborts)
 * are in s3-blob-store.s3rver.test.ts.
 */
const BLOCK = PART / 2;

// s3rver's throughput on a loaded 2-core machine varies; the ranged-read test has room.
vi.setConfig({ testTimeout: 90_000 });

let s3: TestS3Server;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(() => s3?.dispose());

runBlobStoreContract('S3BlobStore on s3rver', {
  blockSize: BLOCK,
  create: async () => {
    const store = new S3BlobStore({
      settings: {
        ...s3.config,
        prefix: 'contract/',
        sse: 'AES256',
        kmsKeyId: '',
        partSizeBytes: PART,
        timeoutMs: 5_000,
      },
    });
    await store.init();
    return { store, dispose: () => store.close() };
  },
});
