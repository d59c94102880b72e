import { afterAll, beforeAll } from 'vitest';
import { runBlobStoreContract } from '../../testing/blob-store.contract.js';
import { startS3Server, type TestS3Server } from '../../testing/s3-server.js';
import { S3BlobStore } from './s3-blob-store.js';

/** S3's smallest part size: the contract's ranges then cross real part boundaries. */
const PART = 5_242_880;

let s3: TestS3Server;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(() => s3?.dispose());

function settings(prefix: string) {
  return {
    ...s3.config,
    prefix,
    sse: 'AES256' as const,
    kmsKeyId: '',
    partSizeBytes: PART,
    timeoutMs: 5_000,
  };
}

runBlobStoreContract('S3BlobStore on s3rver', {
  blockSize: PART,
  create: async () => {
    const store = new S3BlobStore({ settings: settings('contract/') });
    await store.init();
    return { store, dispose: () => store.close() };
  },
});
