import path from 'node:path';
import type { UpdraftApp } from '../../http/app-types.js';
import { ChunkFile } from './chunk-file.js';
import { uploadRoutes } from './upload.routes.js';
import { UploadService } from './upload.service.js';

/** An upload session untouched this long (ms) is abandoned and removed: 24 hours. */
export const UPLOAD_SESSION_MAX_AGE_MS = 24 * 3_600_000;

/**
 * Resumable uploads, mounted by the releases feature (which consumes their sessions) at its
 * prefix: staging files under `<dataDir>/uploads`, bounds from the `uploads.*` settings, and the
 * sweep of abandoned sessions and orphan files at start and then hourly. Returns the service.
 */
export async function uploadsFeature(app: UpdraftApp): Promise<UploadService> {
  const { db, config } = app.updraft;
  const files = new ChunkFile(path.join(config.dataDir, 'uploads'));
  await files.init();
  const uploads = new UploadService(
    db,
    files,
    {
      maxUploadBytes: config.uploads.maxBytes,
      maxChunkBytes: config.uploads.maxChunkBytes,
      maxSessionsPerUser: config.uploads.maxSessionsPerUser,
      maxStagedBytes: config.uploads.maxStagedBytes,
    },
    () => app.updraft.now(),
  );
  // Files of sessions whose row is gone (a crash between the two) are never read again;
  // sessions untouched for a day are abandoned.
  const sweep = async () => {
    await uploads.expireStale(UPLOAD_SESSION_MAX_AGE_MS);
    await uploads.sweepOrphans();
  };
  await sweep();
  const timer = setInterval(() => {
    sweep().catch((error: unknown) => app.log.error({ err: error }, 'upload sweep failed'));
  }, 3_600_000);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
  await app.register(uploadRoutes, { uploads });
  return uploads;
}
