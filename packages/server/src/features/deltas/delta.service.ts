import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { isUpdraftError } from '@updraft/core';
import { DeltaError } from '@updraft/delta';
import type { Kysely } from 'kysely';
import { Counter } from 'prom-client';
import type { DevicePrincipal } from '../../auth/principal.js';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
import { ServerError } from '../../errors.js';
import type { AuditedRun } from '../../http/audit-hook.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { BlobStore } from '../../ports/blob-store.js';
import type { DownloadLinks } from '../../ports/download-links.js';
import type { SignedUrl } from '../../signed-url/signed-url.js';
import {
  type DeltaKey,
  type DeltaRecord,
  deltasForTargets,
  findDeltas,
  findLiveRelease,
  findPlainPayload,
  findReadyPatch,
  getDeltaBases,
  installedDigests,
  openActionForPatch,
  payloadDigestsOf,
  recordDelivery,
  releaseDeltaSavings,
  releaseIdsNamed,
  setDeltaBases,
} from './delta.repository.js';
import type { DeltaEncoder } from './delta-encoder.js';
import type { DeltaOffer, DeltaOfferSource, OfferedPayload } from './delta-offer.js';
import {
  claimDelta,
  countQueuedDeltas,
  DELTA_ATTEMPTS_EXHAUSTED,
  type DeltaClaim,
  failExhaustedDeltas,
  finishDelta,
  insertQueuedDelta,
  releaseDelta,
  renewDeltaLease,
} from './delta-queue.repository.js';
import { DeltaWorker } from './delta-worker.js';

/** What {@link DeltaService.request} did with a patch it was asked for. */
export type RequestOutcome = 'queued' | 'duplicate' | 'full' | 'closed' | 'exists' | 'no-base';

/** Bounds and timing of delta creation. */
export interface DeltaLimits {
  /**
   * Patches waiting to be encoded (`queued` rows, all replicas); more requests are refused until
   * the queue drains, and the next check-in asks again.
   */
  readonly maxQueued: number;
  /** Largest base or target image the encoder takes (both are held in memory). */
  readonly maxImageBytes: number;
  /** The encoder's memory budget (`@updraft/delta`'s `maxMemoryBytes`). */
  readonly maxMemoryBytes: number;
  /** Wall-clock budget of one encoding; over it the patch is recorded as failed. */
  readonly timeBudgetMs: number;
  /** How long a claimed job stays with its replica without a renewal. */
  readonly leaseMs: number;
  /** How often the running job's lease is renewed (well under `leaseMs`). */
  readonly renewEveryMs: number;
  /** How often each replica looks for jobs others queued (its own wake it at once). */
  readonly pollIntervalMs: number;
  /** Claims of one job whose lease lapsed before it is recorded as failed. */
  readonly maxAttempts: number;
}

/** Defaults: one 64 MiB image pair fits the 1 GiB encoder budget of @updraft/delta. */
export const DEFAULT_DELTA_LIMITS: DeltaLimits = {
  maxQueued: 16,
  maxImageBytes: 64 * 1024 * 1024,
  maxMemoryBytes: 1024 * 1024 * 1024,
  timeBudgetMs: 5 * 60 * 1000,
  leaseMs: 60_000,
  renewEveryMs: 15_000,
  pollIntervalMs: 2_000,
  maxAttempts: 3,
};

/** The slice of a pino logger the service uses. */
export interface DeltaLogger {
  info(fields: Record<string, unknown>, msg: string): void;
  warn?(fields: Record<string, unknown>, msg: string): void;
}

/** Path of the patch download route under the device API prefix. */
export const PATCH_PATH = '/api/device/v1/deltas';

/** What a {@link DeltaService} works with; built and passed in by `build-server.ts`. */
export interface DeltaServiceDeps {
  readonly db: Kysely<Database>;
  /** Whether claims can skip rows other replicas locked (PostgreSQL). */
  readonly support: DialectSupport;
  readonly blobs: BlobStore;
  readonly metrics: Metrics;
  /** Signs and checks the patch download URLs. */
  readonly urls: SignedUrl;
  readonly now: () => Date;
  /** Where patches are encoded: `workerEncoder` (a worker thread) in the server. */
  readonly encoder: DeltaEncoder;
  readonly limits: DeltaLimits;
  /** Where patch outcomes and deliveries are logged (the app's pino logger). */
  readonly logger?: DeltaLogger;
}

/** A release's delta configuration with its patches and what they saved (the management view). */
export interface DeltaView {
  readonly releaseId: string;
  readonly anyInstalled: boolean;
  readonly baseReleaseIds: string[];
  readonly patches: DeltaRecord[];
  readonly deliveries: number;
  readonly bytesSaved: number;
}

/** Bytes of a blob, refusing blobs over `max` (the encoder holds both images in memory). */
async function readBlob(blobs: BlobStore, digest: string, max: number): Promise<Uint8Array> {
  const info = await blobs.head(digest);
  if (info === undefined) throw new DeltaError('DELTA_OLD_READ_FAILED', `blob ${digest} is gone`);
  if (info.size > max) {
    throw new DeltaError('DELTA_INPUT_TOO_LARGE', 'image over the delta size limit', {
      details: { size: info.size, limit: max },
    });
  }
  const out = new Uint8Array(info.size);
  let at = 0;
  if (info.size === 0) return out;
  for await (const chunk of await blobs.read(digest)) {
    const bytes = chunk as Uint8Array;
    if (at + bytes.length > out.length) throw new DeltaError('DELTA_OLD_READ_FAILED', 'blob grew');
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/**
 * Server-side deltas (docs/delta-format.md, "Delivery"): decides which check-in payloads get a
 * patch offer, creates missing patches, serves and counts them. The `deltas` table is the job
 * queue of every replica: each claims one job at a time under a lease, so a patch is encoded
 * once whichever replicas ask for it. One per app, built in `build-server.ts` and passed to the
 * deltas and device-API features.
 */
export class DeltaService implements DeltaOfferSource {
  readonly urls: SignedUrl;
  readonly worker: DeltaWorker<DeltaClaim>;
  readonly limits: DeltaLimits;
  /** This replica's name in `deltas.claimed_by` (host, process, random). */
  readonly owner = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  readonly #deps: DeltaServiceDeps;
  readonly #bytesSaved: Counter;
  readonly #patches: Counter<'outcome'>;
  readonly #refused: Counter;

  constructor(deps: DeltaServiceDeps) {
    this.#deps = deps;
    this.limits = deps.limits;
    this.urls = deps.urls;
    this.worker = new DeltaWorker<DeltaClaim>({
      claim: () => this.#claim(),
      run: (claim, signal) => this.build(claim, signal),
      onError: (error) => this.#warn('delta worker failed', { err: error }),
      pollIntervalMs: deps.limits.pollIntervalMs,
    });
    const registers = [deps.metrics.registry];
    this.#bytesSaved = new Counter({
      name: 'updraft_delta_bytes_saved_total',
      help: 'Bytes not sent because a device downloaded a patch instead of the full payload.',
      registers,
    });
    this.#patches = new Counter({
      name: 'updraft_delta_patches_total',
      help: 'Patch encodings finished, by outcome (ready, not_smaller, failed).',
      labelNames: ['outcome'],
      registers,
    });
    this.#refused = new Counter({
      name: 'updraft_delta_queue_refused_total',
      help: 'Patch requests refused because the encoder queue was full.',
      registers,
    });
  }

  /**
   * The offers for an action's payloads; missing patches for matching bases are enqueued. Deltas
   * are an optimisation: if this fails the check-in goes on without offers (full payloads).
   */
  async offers(
    device: DevicePrincipal,
    releaseId: string,
    payloads: readonly OfferedPayload[],
    nowMs: number,
    actionId?: string,
    links?: DownloadLinks,
  ): Promise<ReadonlyMap<string, DeltaOffer>> {
    try {
      return await this.#offers(device, releaseId, payloads, nowMs, actionId, links);
    } catch (error) {
      this.#deps.logger?.warn?.(
        { err: error, releaseId },
        'delta offers failed; full payloads only',
      );
      return new Map();
    }
  }

  async #offers(
    device: DevicePrincipal,
    releaseId: string,
    payloads: readonly OfferedPayload[],
    nowMs: number,
    actionId: string | undefined,
    links: DownloadLinks | undefined,
  ): Promise<ReadonlyMap<string, DeltaOffer>> {
    const offers = new Map<string, DeltaOffer>();
    const { db } = this.#deps;
    const { tenantId } = device;
    const bases = await getDeltaBases(db, tenantId, releaseId);
    if (bases === undefined || payloads.length === 0) return offers;
    const installed = await installedDigests(db, tenantId, device.deviceId);
    const plainTargets = new Set(
      (await payloadDigestsOf(db, tenantId, [releaseId])).map((p) => p.sha256),
    );
    const named = bases.anyInstalled
      ? null
      : await payloadDigestsOf(db, tenantId, bases.baseReleaseIds);
    const wanted: { payload: OfferedPayload; baseDigest: string }[] = [];
    for (const payload of payloads) {
      const base = installed.find((c) => c.componentId === payload.component)?.digest ?? null;
      if (base === null || base === payload.digest || !plainTargets.has(payload.digest)) continue;
      if (
        named !== null &&
        !named.some((n) => n.componentId === payload.component && n.sha256 === base)
      )
        continue;
      wanted.push({ payload, baseDigest: base });
    }
    if (wanted.length === 0) return offers;
    const records = await findDeltas(
      db,
      tenantId,
      wanted.map((w) => ({ baseDigest: w.baseDigest, targetDigest: w.payload.digest })),
    );
    const exp = this.urls.expiryFor(nowMs);
    for (const { payload, baseDigest } of wanted) {
      const key = { tenantId, baseDigest, targetDigest: payload.digest };
      const record = records.find(
        (r) => r.baseDigest === baseDigest && r.targetDigest === payload.digest,
      );
      if (record?.state === 'ready' && record.patchDigest !== null && record.patchSize !== null) {
        // Direct links only for an open action (a closed one's URLs must stop working).
        const direct =
          actionId === undefined ? undefined : await links?.direct(record.patchDigest, nowMs);
        offers.set(payload.digest, {
          baseDigest,
          patchDigest: record.patchDigest,
          patchSize: record.patchSize,
          url:
            direct?.url ??
            `${PATCH_PATH}/${record.patchDigest}?${this.urls.sign({ tenantId, deviceId: device.deviceId, digest: record.patchDigest, exp, actionId, credentialId: device.credentialId })}`,
        });
      } else if (record === undefined) {
        // A queued or building record is some replica's job already (a lapsed lease is reclaimed).
        await this.request(key, payload.size);
      }
    }
    return offers;
  }

  /**
   * Asks for the patch `key` unless it exists: records it as queued (the job every replica's
   * worker can claim) and wakes this replica's worker. The base must be an unencrypted payload
   * the tenant holds (its bytes are the device's image). Refused (`full`, nothing recorded) while
   * `maxQueued` patches wait.
   */
  async request(key: DeltaKey, targetSize: number): Promise<RequestOutcome> {
    const { db } = this.#deps;
    if (this.worker.closed) return 'closed';
    if ((await findPlainPayload(db, key.tenantId, key.baseDigest)) === undefined) return 'no-base';
    const existing = async () => (await findDeltas(db, key.tenantId, [key]))[0];
    const before = await existing();
    if (before !== undefined)
      return before.state === 'queued' || before.state === 'building' ? 'duplicate' : 'exists';
    const at = this.#deps.now().toISOString();
    if (await insertQueuedDelta(db, key, targetSize, at, this.limits.maxQueued)) {
      this.worker.wake();
      return 'queued';
    }
    // Not inserted: another replica recorded it meanwhile, or the queue is full.
    if ((await existing()) !== undefined) return 'duplicate';
    this.#refused.inc();
    return 'full';
  }

  /** Patches waiting for an encoder (every replica's). */
  queuedCount(): Promise<number> {
    return countQueuedDeltas(this.#deps.db);
  }

  /** Starts this replica's worker (after the app is ready). */
  start(): void {
    this.worker.start();
  }

  /** Gives up jobs out of attempts, then claims the oldest claimable one for this replica. */
  async #claim(): Promise<DeltaClaim | undefined> {
    const { db, support, now } = this.#deps;
    const at = now();
    const iso = at.toISOString();
    const given = await failExhaustedDeltas(db, iso, this.limits.maxAttempts);
    if (given > 0) {
      this.#patches.inc({ outcome: 'failed' }, given);
      this.#log('delta jobs given up', { count: given, code: DELTA_ATTEMPTS_EXHAUSTED });
    }
    return claimDelta(db, support, {
      owner: this.owner,
      now: iso,
      leaseUntil: new Date(at.getTime() + this.limits.leaseMs).toISOString(),
      maxAttempts: this.limits.maxAttempts,
    });
  }

  /** Enqueues the patches from every named base release to `releaseId` (eager creation). */
  async requestNamedBases(tenantId: string, releaseId: string): Promise<number> {
    const { db } = this.#deps;
    const bases = await getDeltaBases(db, tenantId, releaseId);
    if (bases === undefined) return 0;
    const targets = await payloadDigestsOf(db, tenantId, [releaseId]);
    const named = await payloadDigestsOf(db, tenantId, bases.baseReleaseIds);
    let queued = 0;
    for (const t of targets) {
      for (const b of named) {
        if (b.componentId !== t.componentId || b.sha256 === t.sha256) continue;
        const key = { tenantId, baseDigest: b.sha256, targetDigest: t.sha256 };
        if ((await this.request(key, t.size)) === 'queued') queued += 1;
      }
    }
    return queued;
  }

  /**
   * Encodes one claimed patch and records the outcome if this replica still holds the job (the
   * worker's job). The lease is renewed while it runs; a lost lease stops the encoding (another
   * replica has the job). `signal` (shutdown) stops it too and gives the job back.
   */
  async build(claim: DeltaClaim, signal: AbortSignal): Promise<void> {
    const { db, blobs, encoder } = this.#deps;
    const at = () => this.#deps.now().toISOString();
    const lost = new AbortController();
    const renew = async () => {
      const until = new Date(this.#deps.now().getTime() + this.limits.leaseMs).toISOString();
      try {
        if (!(await renewDeltaLease(db, claim, until))) lost.abort(new Error('delta lease lost'));
      } catch (error) {
        // The database is away: keep encoding; finishing checks the claim anyway.
        this.#warn('delta lease renewal failed', { err: error });
      }
    };
    const renewal = setInterval(() => void renew(), this.limits.renewEveryMs);
    renewal.unref();
    const stop = AbortSignal.any([signal, lost.signal]);
    const key = {
      tenantId: claim.tenantId,
      baseDigest: claim.baseDigest,
      targetDigest: claim.targetDigest,
    };
    const finish = async (outcome: Parameters<typeof finishDelta>[2]) => {
      const written = await finishDelta(db, claim, outcome, at());
      if (!written) this.#log('delta lease lost; result dropped', { ...key, state: outcome.state });
      return written;
    };
    try {
      const base = await readBlob(blobs, key.baseDigest, this.limits.maxImageBytes);
      const target = await readBlob(blobs, key.targetDigest, this.limits.maxImageBytes);
      const targetSize = target.length;
      // Stopped while reading: do not start an encoding only to abort it.
      stop.throwIfAborted();
      // Off the event loop; the buffers are handed over to the encoder's thread.
      const report = await encoder(base, target, {
        maxMemoryBytes: this.limits.maxMemoryBytes,
        timeBudgetMs: this.limits.timeBudgetMs,
        signal: stop,
      });
      lost.signal.throwIfAborted();
      if (report.kind !== 'delta' || report.patch.length >= targetSize) {
        if (await finish({ state: 'not_smaller', patchSize: report.patch.length })) {
          this.#patches.inc({ outcome: 'not_smaller' });
          this.#log('delta not smaller than the full image', { ...key, size: report.patch.length });
        }
        return;
      }
      const digest = createHash('sha256').update(report.patch).digest('hex');
      // Still ours? Then store the patch (content-addressed: a second copy is the same blob).
      await renew();
      lost.signal.throwIfAborted();
      await blobs.put(Readable.from([report.patch]), { digest, size: report.patch.length });
      if (await finish({ state: 'ready', patchDigest: digest, patchSize: report.patch.length })) {
        this.#patches.inc({ outcome: 'ready' });
        this.#log('delta ready', { ...key, patchDigest: digest, patchSize: report.patch.length });
      }
    } catch (error) {
      if (signal.aborted) {
        // Shutdown: the job goes back to the queue for another replica (or the next start).
        await releaseDelta(db, claim, at());
        this.#log('delta job given back', key);
        return;
      }
      if (lost.signal.aborted) {
        this.#log('delta lease lost; encoding stopped', key);
        return;
      }
      const code = isUpdraftError(error) ? error.code : 'HTTP_INTERNAL';
      if (await finish({ state: 'failed', errorCode: code })) {
        this.#patches.inc({ outcome: 'failed' });
        this.#log('delta failed', { ...key, code, error: String(error) });
      }
    } finally {
      clearInterval(renewal);
    }
  }

  /**
   * Counts a completed patch download for the device's open action (once per action and patch):
   * bytes saved = target size − patch size.
   */
  async recordDownload(
    tenantId: string,
    deviceId: string,
    patchDigest: string,
    /** The action a device's report named: nothing is counted for another one. */
    reportedActionId?: string,
  ): Promise<void> {
    const { db } = this.#deps;
    const action = await openActionForPatch(db, tenantId, deviceId, patchDigest);
    if (action === undefined) return;
    if (reportedActionId !== undefined && action.actionId !== reportedActionId) return;
    const saved = Math.max(0, action.targetSize - action.patchSize);
    const fresh = await recordDelivery(db, {
      action_id: action.actionId,
      patch_digest: patchDigest,
      tenant_id: tenantId,
      release_id: action.releaseId,
      device_id: deviceId,
      bytes_saved: saved,
      at: this.#deps.now().toISOString(),
    });
    if (fresh) {
      this.#bytesSaved.inc(saved);
      this.#log('delta delivered', { actionId: action.actionId, patchDigest, bytesSaved: saved });
    }
  }

  /**
   * The patches a device reported it applied (feedback `deltas`, sent with `downloaded`): the
   * way deliveries are counted when the device fetched them from the object store or a CDN. The
   * device's word is taken only for a ready patch of its own open action `actionId`, once per
   * action and patch (as for a download the service served to the last byte).
   */
  async recordReported(
    tenantId: string,
    deviceId: string,
    actionId: string,
    patchDigests: readonly string[],
  ): Promise<void> {
    for (const digest of new Set(patchDigests))
      await this.recordDownload(tenantId, deviceId, digest, actionId);
  }

  /** A live release's delta bases, its cached patches and the bytes they saved. */
  async view(tenantId: string, releaseId: string): Promise<DeltaView> {
    const { db } = this.#deps;
    if ((await findLiveRelease(db, tenantId, releaseId)) === undefined)
      throw new ServerError('RESOURCE_NOT_FOUND', `release ${releaseId} not found`);
    const bases = await getDeltaBases(db, tenantId, releaseId);
    const targets = (await payloadDigestsOf(db, tenantId, [releaseId])).map((p) => p.sha256);
    return {
      releaseId,
      anyInstalled: bases?.anyInstalled ?? false,
      baseReleaseIds: bases?.baseReleaseIds ?? [],
      patches: await deltasForTargets(db, tenantId, targets),
      ...(await releaseDeltaSavings(db, tenantId, releaseId)),
    };
  }

  /**
   * Names a release's delta bases: other live releases of its device class by id or version
   * (`RESOURCE_INVALID` listing the unknown ones), or any installed image. Written with its audit
   * entry through `audit`; then, when `eager`, the named bases' patches are enqueued.
   */
  async setBases(
    audit: AuditedRun,
    tenantId: string,
    releaseId: string,
    input: {
      readonly bases: readonly string[];
      readonly anyInstalled: boolean;
      readonly eager?: boolean;
    },
  ): Promise<DeltaView> {
    const { anyInstalled } = input;
    await audit(async (trx) => {
      const release = await findLiveRelease(trx, tenantId, releaseId);
      if (release === undefined)
        throw new ServerError('RESOURCE_NOT_FOUND', `release ${releaseId} not found`);
      const ids = new Set<string>();
      const unknown: string[] = [];
      for (const name of input.bases) {
        const found = await releaseIdsNamed(trx, tenantId, release.deviceClassId, releaseId, name);
        if (found.length === 0) unknown.push(name);
        for (const id of found) ids.add(id);
      }
      if (unknown.length > 0) {
        throw new ServerError(
          'RESOURCE_INVALID',
          'every base must be another live release of the same device class (id or version)',
          { details: { unknown } },
        );
      }
      const baseReleaseIds = [...ids].sort();
      const at = this.#deps.now().toISOString();
      await setDeltaBases(trx, tenantId, releaseId, { anyInstalled, baseReleaseIds }, at);
      return { result: undefined, resourceId: releaseId, change: { anyInstalled, baseReleaseIds } };
    });
    if (input.eager ?? true) await this.requestNamedBases(tenantId, releaseId);
    return this.view(tenantId, releaseId);
  }

  /** The size of the ready patch `digest` the tenant holds; `RESOURCE_NOT_FOUND` otherwise. */
  async readyPatchSize(tenantId: string, digest: string): Promise<number> {
    const patch = await findReadyPatch(this.#deps.db, tenantId, digest);
    if (patch === undefined || patch.patchSize === null)
      throw new ServerError('RESOURCE_NOT_FOUND', 'no such patch');
    return patch.patchSize;
  }

  #log(msg: string, fields: Record<string, unknown>): void {
    this.#deps.logger?.info(fields, msg);
  }

  #warn(msg: string, fields: Record<string, unknown>): void {
    (this.#deps.logger?.warn ?? this.#deps.logger?.info)?.call(this.#deps.logger, fields, msg);
  }

  /**
   * Stops claiming and aborts the running encoding, whose job goes back to `queued` for another
   * replica; waiting jobs stay queued in the database.
   */
  close(): Promise<void> {
    return this.worker.close();
  }
}
