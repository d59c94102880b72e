import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { isUpdraftError } from '@updraft/core';
import { DeltaError } from '@updraft/delta';
import type { Kysely } from 'kysely';
import { Counter } from 'prom-client';
import type { DevicePrincipal } from '../../auth/principal.js';
import type { Database } from '../../db/database.js';
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
  insertQueuedDelta,
  installedDigests,
  openActionForPatch,
  payloadDigestsOf,
  recordDelivery,
  releaseDeltaSavings,
  releaseIdsNamed,
  setDeltaBases,
  updateDelta,
} from './delta.repository.js';
import type { DeltaEncoder } from './delta-encoder.js';
import type { DeltaOffer, DeltaOfferSource, OfferedPayload } from './delta-offer.js';
import { DeltaWorker, type EnqueueOutcome } from './delta-worker.js';

/** Bounds of delta creation. */
export interface DeltaLimits {
  /** Patches waiting to be encoded; more requests are refused until the queue drains. */
  readonly maxQueued: number;
  /** Largest base or target image the encoder takes (both are held in memory). */
  readonly maxImageBytes: number;
  /** The encoder's memory budget (`@updraft/delta`'s `maxMemoryBytes`). */
  readonly maxMemoryBytes: number;
  /** Wall-clock budget of one encoding; over it the patch is recorded as failed. */
  readonly timeBudgetMs: number;
}

/** Defaults: one 64 MiB image pair fits the 1 GiB encoder budget of @updraft/delta. */
export const DEFAULT_DELTA_LIMITS: DeltaLimits = {
  maxQueued: 16,
  maxImageBytes: 64 * 1024 * 1024,
  maxMemoryBytes: 1024 * 1024 * 1024,
  timeBudgetMs: 5 * 60 * 1000,
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

const keyOf = (k: DeltaKey) => `${k.tenantId}|${k.baseDigest}|${k.targetDigest}`;

/**
 * Server-side deltas (docs/delta-format.md, "Delivery"): decides which check-in payloads get a
 * patch offer, creates missing patches in a bounded background worker, serves and counts them.
 * One per app, built in `build-server.ts` and passed to the deltas and device-API features.
 */
export class DeltaService implements DeltaOfferSource {
  readonly urls: SignedUrl;
  readonly worker: DeltaWorker<DeltaKey>;
  readonly limits: DeltaLimits;
  readonly #deps: DeltaServiceDeps;
  readonly #bytesSaved: Counter;
  readonly #patches: Counter<'outcome'>;
  readonly #refused: Counter;
  readonly #closing = new AbortController();

  constructor(deps: DeltaServiceDeps) {
    this.#deps = deps;
    this.limits = deps.limits;
    this.urls = deps.urls;
    this.worker = new DeltaWorker<DeltaKey>({
      maxQueued: deps.limits.maxQueued,
      run: (key) => this.build(key),
      onError: (error, key) => this.#log('delta worker failed', { ...key, error: String(error) }),
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
      } else if (record === undefined || record.state === 'queued' || record.state === 'building') {
        // A record left queued by a restart is picked up again here.
        if (!this.worker.has(keyOf(key))) await this.request(key, payload.size);
      }
    }
    return offers;
  }

  /**
   * Asks for the patch `key` unless it exists: records it as queued and enqueues it. The base
   * must be an unencrypted payload the tenant holds (its bytes are the device's image).
   */
  async request(key: DeltaKey, targetSize: number): Promise<EnqueueOutcome | 'exists' | 'no-base'> {
    const { db } = this.#deps;
    if ((await findPlainPayload(db, key.tenantId, key.baseDigest)) === undefined) return 'no-base';
    const [existing] = await findDeltas(db, key.tenantId, [key]);
    if (existing !== undefined && existing.state !== 'queued' && existing.state !== 'building')
      return 'exists';
    if (this.worker.has(keyOf(key))) return 'duplicate';
    if (this.worker.queued >= this.limits.maxQueued) {
      this.#refused.inc();
      return 'full';
    }
    await insertQueuedDelta(db, key, targetSize, this.#deps.now().toISOString());
    const outcome = this.worker.enqueue(keyOf(key), key);
    if (outcome === 'full') this.#refused.inc();
    return outcome;
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

  /** Encodes one patch and records the outcome (the worker's job). */
  async build(key: DeltaKey): Promise<void> {
    const { db, blobs, encoder } = this.#deps;
    const at = () => this.#deps.now().toISOString();
    await updateDelta(db, key, { state: 'building' }, at());
    try {
      const base = await readBlob(blobs, key.baseDigest, this.limits.maxImageBytes);
      const target = await readBlob(blobs, key.targetDigest, this.limits.maxImageBytes);
      const targetSize = target.length;
      // Off the event loop; the buffers are handed over to the encoder's thread.
      const report = await encoder(base, target, {
        maxMemoryBytes: this.limits.maxMemoryBytes,
        timeBudgetMs: this.limits.timeBudgetMs,
        signal: this.#closing.signal,
      });
      if (report.kind !== 'delta' || report.patch.length >= targetSize) {
        await updateDelta(db, key, { state: 'not_smaller', patchSize: report.patch.length }, at());
        this.#patches.inc({ outcome: 'not_smaller' });
        this.#log('delta not smaller than the full image', { ...key, size: report.patch.length });
        return;
      }
      const digest = createHash('sha256').update(report.patch).digest('hex');
      await blobs.put(Readable.from([report.patch]), { digest, size: report.patch.length });
      await updateDelta(
        db,
        key,
        { state: 'ready', patchDigest: digest, patchSize: report.patch.length },
        at(),
      );
      this.#patches.inc({ outcome: 'ready' });
      this.#log('delta ready', { ...key, patchDigest: digest, patchSize: report.patch.length });
    } catch (error) {
      // Stopped by shutdown: the record stays `building` and is asked for again after a restart.
      if (this.#closing.signal.aborted) return;
      const code = isUpdraftError(error) ? error.code : 'HTTP_INTERNAL';
      await updateDelta(db, key, { state: 'failed', errorCode: code }, at());
      this.#patches.inc({ outcome: 'failed' });
      this.#log('delta failed', { ...key, code, error: String(error) });
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

  /** Stops the worker (drops waiting jobs; their records stay `queued` and are asked for again). */
  close(): Promise<void> {
    this.#closing.abort(new Error('the server is closing'));
    return this.worker.close();
  }
}
