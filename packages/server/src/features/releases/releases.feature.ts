import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import type { UpdraftFeature } from '../../http/app-types.js';
import { getDeviceClass, trustedKeysForClass } from '../device-classes/device-class.repository.js';
import { uploadsFeature } from '../uploads/uploads.feature.js';
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

/**
 * Releases and resumable uploads, mounted at `/api/v1`. `verifier` is replaceable for tests of
 * the code above it; the server uses `@updraft/core`.
 */
export function releasesFeature(verifier: EnvelopeVerifier = coreEnvelopeVerifier): UpdraftFeature {
  return async (app) => {
    const { db, blobs } = app.updraft;
    const now = () => app.updraft.now();
    const uploads = await uploadsFeature(app);
    const releases = new ReleaseService(db, blobs, uploads, classLookup(db), verifier, now);
    await app.register(releaseRoutes, { releases });
  };
}
