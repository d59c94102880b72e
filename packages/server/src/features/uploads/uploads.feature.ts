import path from 'node:path';
import type { UpdraftApp } from '../../http/app-types.js';
import { createUploadStaging } from './create-upload-staging.js';
import { importLegacyUploads } from './import-legacy-uploads.js';
import { uploadRoutes } from './upload.routes.js';
import { UploadService } from './upload.service.js';

/** An upload session untouched this long (ms) is abandoned and removed: 24 hours. */
export const UPLOAD_SESSION_MAX_AGE_MS = 24 * 3_600_000;

/**
 * Resumable uploads, mounted by the releases feature (which consumes their sessions) at its
 * prefix: chunks staged where every replica reaches them (`blobs.store`: under `blobs.dir`, or in
 * the S3 bucket), bounds from the `uploads.*` settings, and the
 * sweep of abandoned sessions and orphan files at start and then hourly. Returns the service.
 */
export async function uploadsFeature(app: UpdraftApp): Promise<UploadService> {
  const { db, dbSupport, config } = app.updraft;
  const staging = createUploadStaging(config);
  await staging.init();
  app.addHook('onClose', () => staging.close());
  const uploads = new UploadService(
    db,
    dbSupport,
    staging,
    {
      maxUploadBytes: config.uploads.maxBytes,
      maxChunkBytes: config.uploads.maxChunkBytes,
      maxSessionsPerUser: config.uploads.maxSessionsPerUser,
      maxStagedBytes: config.uploads.maxStagedBytes,
    },
    () => app.updraft.now(),
  );
  // Sessions an older version staged on this replica's own disk move to the staging first.
  const legacy = await importLegacyUploads(
    path.join(config.dataDir, 'uploads'),
    uploads,
    new Set(await staging.list().catch(() => [])),
    (error) => app.log.error({ err: error }, 'could not move a legacy upload session'),
  );
  if (legacy > 0) app.log.info({ sessions: legacy }, 'moved upload sessions to the staging');
  // Chunks of sessions whose row is gone (a crash between the two) are never read again;
  // sessions untouched for a day are abandoned. Every replica sweeps; the deletes are idempotent.
  const sweep = async () => {
    await uploads.expireStale(UPLOAD_SESSION_MAX_AGE_MS);
    await uploads.sweepOrphans();
  };
  // A bucket that does not answer at start must not keep the replica down (readiness tells).
  await sweep().catch((error: unknown) => app.log.error({ err: error }, 'upload sweep failed'));
  const timer = setInterval(() => {
    sweep().catch((error: unknown) => app.log.error({ err: error }, 'upload sweep failed'));
  }, 3_600_000);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
  await app.register(uploadRoutes, { uploads });
  return uploads;
}
