import path from 'node:path';
import { FsUploadStaging } from '../../adapters/fs/fs-upload-staging.js';
import { createS3Client } from '../../adapters/s3/s3-client.js';
import { S3UploadStaging } from '../../adapters/s3/s3-upload-staging.js';
import type { ServerConfig } from '../../config/config.js';
import type { UploadStaging } from '../../ports/upload-staging.js';

type StagingFactory = (config: ServerConfig) => UploadStaging;

/**
 * Where upload sessions are staged, by `blobs.store`: beside the blobs, because that is the one
 * place every replica already shares (fs-mode replicas must share `blobs.dir`), never the
 * per-process `dataDir`.
 */
const STAGINGS: Record<ServerConfig['blobs']['store'], StagingFactory> = {
  fs: (config) => new FsUploadStaging(config.blobs.dir),
  s3: (config) =>
    new S3UploadStaging({
      client: createS3Client(config.s3),
      ownsClient: true,
      settings: config.s3,
      spoolDir: path.join(config.dataDir, 'upload-spool'),
    }),
};

/** The upload staging `config.blobs.store` calls for (not initialised yet). */
export function createUploadStaging(config: ServerConfig): UploadStaging {
  return STAGINGS[config.blobs.store](config);
}
