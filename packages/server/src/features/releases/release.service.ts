import { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import type { BlobStore } from '../../ports/blob-store.js';
import { appendAudit } from '../audit/audit.repository.js';
import { forgetDeltasOf } from '../deltas/forget-deltas.js';
import type { Uploader, UploadService } from '../uploads/upload.service.js';
import type { EnvelopeVerifier } from './envelope-verifier.js';
import { matchPayloads, type UploadedPayload } from './match-payloads.js';
import {
  blobStillUsed,
  findOpenActionOfRelease,
  findRelease,
  insertRelease,
  markReleaseDeleted,
  type Release,
  sequenceNumberTaken,
} from './release.repository.js';

/** Who makes a change and from where, for the audit log. */
export interface ChangeContext {
  readonly tenantId: string;
  readonly actorId: string | null;
  readonly ip: string | null;
  readonly requestId: string | null;
}

/** A new release: the envelope and, per payload, the upload session that holds its bytes. */
export interface NewRelease {
  readonly deviceClassId: string;
  readonly envelope: Uint8Array;
  readonly payloads: readonly {
    readonly uploadId: string;
    readonly componentId?: string | undefined;
    readonly fileName?: string | undefined;
  }[];
  /** Overrides the manifest text's version, if any. */
  readonly version?: string | undefined;
}

/** A payload as the release upload names it: a completed upload session, or small bytes inline. */
export type GivenPayload =
  | {
      readonly uploadId: string;
      readonly componentId?: string | undefined;
      readonly fileName?: string | undefined;
    }
  | {
      readonly data: Uint8Array;
      readonly componentId?: string | undefined;
      readonly fileName?: string | undefined;
    };

/** Reads a device class's identity and trusted keys (the platform's repository functions). */
export interface ClassLookup {
  findClass(
    tenantId: string,
    deviceClassId: string,
  ): Promise<{ vendorId: string; classId: string } | undefined>;
  trustedKeys(
    tenantId: string,
    deviceClassId: string,
  ): Promise<readonly { kid: string; publicKeyPem: string }[]>;
}

/**
 * Release upload and deletion. Everything is checked before anything is written: the envelope
 * against the class's trusted (non-revoked) keys, its vendor/class ids against the class, each
 * payload's digest and size against the manifest. Only then do payloads enter the blob store
 * (atomic per blob) and the release row commit; a failure after a blob was stored removes the
 * blobs this call added, so a refused release leaves the database and the blob store unchanged.
 */
export class ReleaseService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly blobs: BlobStore,
    private readonly uploads: UploadService,
    private readonly classes: ClassLookup,
    private readonly verify: EnvelopeVerifier,
    private readonly now: () => Date,
  ) {}

  /** Verifies and stores a release; returns it. */
  /**
   * {@link create} for payloads given inline or as upload sessions: inline bytes pass through
   * sessions of `uploader` (only a means of transport), which a refused release removes again.
   */
  async createFrom(
    ctx: ChangeContext,
    input: Omit<NewRelease, 'payloads'> & { readonly payloads: readonly GivenPayload[] },
    uploader: Uploader,
  ): Promise<Release> {
    const inline: string[] = [];
    try {
      const payloads: NewRelease['payloads'][number][] = [];
      for (const p of input.payloads) {
        if ('uploadId' in p) {
          payloads.push(p);
          continue;
        }
        const session = await this.uploads.create(uploader, p.data.length);
        inline.push(session.id);
        await this.uploads.putChunk(uploader, session.id, 0, Readable.from([p.data]));
        payloads.push({ uploadId: session.id, componentId: p.componentId, fileName: p.fileName });
      }
      return await this.create(ctx, { ...input, payloads }, uploader);
    } catch (error) {
      for (const id of inline) await this.uploads.remove(uploader, id).catch(() => undefined);
      throw error;
    }
  }

  /** Verifies and stores a release; its upload sessions must be `uploader`'s own. */
  async create(ctx: ChangeContext, input: NewRelease, uploader: Uploader): Promise<Release> {
    const cls = await this.classes.findClass(ctx.tenantId, input.deviceClassId);
    if (cls === undefined)
      throw new ServerError('RESOURCE_NOT_FOUND', `device class ${input.deviceClassId} not found`);
    const keys = await this.classes.trustedKeys(ctx.tenantId, input.deviceClassId);
    const verified = await this.verify(input.envelope, keys);
    if (verified.vendorId !== null && verified.vendorId !== cls.vendorId) {
      throw new ServerError(
        'RELEASE_ENVELOPE_INVALID',
        "the manifest's vendor-id is not the device class's",
        {
          details: { expected: cls.vendorId, actual: verified.vendorId },
        },
      );
    }
    if (verified.classId !== null && verified.classId !== cls.classId) {
      throw new ServerError(
        'RELEASE_ENVELOPE_INVALID',
        "the manifest's class-id is not the device class's",
        {
          details: { expected: cls.classId, actual: verified.classId },
        },
      );
    }
    if (
      await sequenceNumberTaken(this.db, ctx.tenantId, input.deviceClassId, verified.sequenceNumber)
    ) {
      throw new ServerError(
        'RELEASE_EXISTS',
        `the class already has a release with sequence number ${verified.sequenceNumber}`,
      );
    }
    const seen = new Set<string>();
    const uploaded: UploadedPayload[] = [];
    for (const p of input.payloads) {
      if (seen.has(p.uploadId))
        throw new ServerError('RELEASE_PAYLOAD_MISMATCH', `upload ${p.uploadId} is listed twice`);
      seen.add(p.uploadId);
      uploaded.push({
        ...(await this.uploads.digests(uploader, p.uploadId)),
        componentId: p.componentId,
      });
    }
    const matched = matchPayloads(verified.components, uploaded);
    // matchPayloads keeps the order of `uploaded`, which is the order of `input.payloads`.
    const fileNames = input.payloads.map((p) => p.fileName ?? null);

    const added: string[] = [];
    try {
      for (const [i, p] of matched.entries()) {
        const existed = (await this.blobs.head(p.sha256)) !== undefined;
        await this.blobs.put(this.uploads.read(input.payloads[i]!.uploadId, p.size), {
          digest: p.sha256,
          size: p.size,
        });
        if (!existed) added.push(p.sha256);
      }
      const id = newId('rel');
      const at = this.now().toISOString();
      const version = input.version ?? verified.version ?? String(verified.sequenceNumber);
      await this.db.transaction().execute(async (trx) => {
        await insertRelease(
          trx,
          {
            id,
            tenant_id: ctx.tenantId,
            device_class_id: input.deviceClassId,
            version,
            sequence_number: verified.sequenceNumber,
            manifest_digest: verified.manifestDigest,
            signer_kids: JSON.stringify(verified.signerKids),
            components: JSON.stringify(verified.components),
            text: verified.text === null ? null : JSON.stringify(verified.text),
            envelope: Buffer.from(input.envelope).toString('base64'),
            envelope_size: input.envelope.length,
            created_at: at,
            created_by: ctx.actorId,
          },
          matched.map((p, i) => ({
            componentId: p.componentId,
            sha256: p.sha256,
            sha1: p.sha1,
            md5: p.md5,
            size: p.size,
            fileName: fileNames[i] ?? null,
          })),
        );
        await this.uploads.consume(
          trx,
          ctx.tenantId,
          input.payloads.map((p) => p.uploadId),
        );
        await appendAudit(
          trx,
          {
            tenantId: ctx.tenantId,
            actorType: 'user',
            actorId: ctx.actorId,
            action: 'release.create',
            resourceType: 'release',
            resourceId: id,
            change: {
              deviceClassId: input.deviceClassId,
              version,
              sequenceNumber: verified.sequenceNumber,
              signerKids: verified.signerKids,
            },
            ip: ctx.ip,
            outcome: 'success',
            status: 201,
            requestId: ctx.requestId,
          },
          at,
        );
      });
      added.length = 0;
      for (const p of input.payloads) await this.uploads.discardStaged(p.uploadId);
      const release = await findRelease(this.db, ctx.tenantId, id);
      if (release === undefined)
        throw new ServerError('HTTP_INTERNAL', 'release vanished after insert');
      return release;
    } catch (error) {
      for (const digest of added) {
        if (!(await blobStillUsed(this.db, digest, '')))
          await this.blobs.delete(digest).catch(() => false);
      }
      if (isUniqueViolation(error)) {
        throw new ServerError(
          'RELEASE_EXISTS',
          `the class already has a release with sequence number ${verified.sequenceNumber}`,
        );
      }
      throw error;
    }
  }

  /** Deletes a release unless an open action deploys it; drops blobs no live release uses. */
  async delete(ctx: ChangeContext, releaseId: string): Promise<void> {
    const release = await findRelease(this.db, ctx.tenantId, releaseId);
    if (release === undefined)
      throw new ServerError('RESOURCE_NOT_FOUND', `release ${releaseId} not found`);
    const at = this.now().toISOString();
    await this.db.transaction().execute(async (trx) => {
      const open = await findOpenActionOfRelease(trx, ctx.tenantId, releaseId);
      if (open !== undefined) {
        throw new ServerError(
          'RELEASE_IN_USE',
          `release ${releaseId} is deployed by open action ${open}`,
          { details: { actionId: open } },
        );
      }
      if (!(await markReleaseDeleted(trx, ctx.tenantId, releaseId, at))) {
        throw new ServerError('RESOURCE_NOT_FOUND', `release ${releaseId} not found`);
      }
      await appendAudit(
        trx,
        {
          tenantId: ctx.tenantId,
          actorType: 'user',
          actorId: ctx.actorId,
          action: 'release.delete',
          resourceType: 'release',
          resourceId: releaseId,
          change: { version: release.version, sequenceNumber: release.sequenceNumber },
          ip: ctx.ip,
          outcome: 'success',
          status: 204,
          requestId: ctx.requestId,
        },
        at,
      );
    });
    // After commit: a crash here leaves an unreferenced blob, never a release without its bytes.
    for (const p of release.payloads) {
      if (!(await blobStillUsed(this.db, p.sha256, releaseId))) await this.blobs.delete(p.sha256);
    }
    // Cached patches to payloads no live release delivers any more go too.
    await forgetDeltasOf(
      this.db,
      this.blobs,
      ctx.tenantId,
      release.payloads.map((p) => p.sha256),
    );
  }
}

/** True for a UNIQUE constraint violation on either backend. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== 'object') return false;
  // PostgreSQL: SQLSTATE 23505; better-sqlite3: SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY.
  return (
    e.code === '23505' ||
    e.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}
