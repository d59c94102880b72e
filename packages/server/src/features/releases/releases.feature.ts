import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import type { UpdraftFeature } from '../../http/app-types.js';
import { getDeviceClass, trustedKeysForClass } from '../device-classes/device-class.repository.js';
import { ChunkFile } from '../uploads/chunk-file.js';
import { DEFAULT_UPLOAD_LIMITS, uploadRoutes } from '../uploads/upload.routes.js';
import { UploadService } from '../uploads/upload.service.js';
import { coreEnvelopeVerifier } from './core-envelope-verifier.js';
import type { EnvelopeVerifier } from './envelope-verifier.js';
import { releaseRoutes } from './release.routes.js';
import { type ClassLookup, ReleaseService } from './release.service.js';

/** Device classes and their non-revoked trusted keys, from the device-classes repository. */
export function classLookup(db: Kysely<Database>): ClassLookup {
  return {
    async findClass(tenantId, deviceClassId) {
      const cls = await getDeviceClass(db, tenantId, deviceClassId);
      return cls && { vendorId: cls.vendorId.toLowerCase(), classId: cls.classId.toLowerCase() };
    },
    trustedKeys: (tenantId, deviceClassId) => trustedKeysForClass(db, tenantId, deviceClassId),
  };
}

/** An upload session untouched this long (ms) is abandoned and removed: 24 hours. */
export const UPLOAD_SESSION_MAX_AGE_MS = 24 * 3_600_000;

/**
 * Releases and resumable uploads, mounted at `/api/v1`. `verifier` is replaceable for tests of
 * the code above it; the server uses `@updraft/core`.
 */
export function releasesFeature(verifier: EnvelopeVerifier = coreEnvelopeVerifier): UpdraftFeature {
  return async (app) => {
    const { db, blobs, config } = app.updraft;
    const now = () => app.updraft.now();
    const files = new ChunkFile(path.join(config.dataDir, 'uploads'));
    await files.init();
    const uploads = new UploadService(db, files, DEFAULT_UPLOAD_LIMITS, now);
    // Files of sessions whose row is gone (a crash between the two) are never read again;
    // sessions untouched for a day are abandoned. Checked at start and then hourly.
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
    const releases = new ReleaseService(db, blobs, uploads, classLookup(db), verifier, now);
    await app.register(uploadRoutes, { uploads });
    await app.register(releaseRoutes, { releases, uploads });
  };
}
