import { hash } from 'node:crypto';
import type {
  CheckInReport,
  CheckInResponse,
  DeltaOffer,
  DeviceAction,
  PushEndpoint,
} from '@updraft/core';
import type { Kysely } from 'kysely';
import {
  type PrefetchedCheckInState,
  prefetchedCheckInState,
} from '../../auth/device-authenticator.js';
import type { DevicePrincipal } from '../../auth/principal.js';
import { SharedStrings } from '../../auth/shared-strings.js';
import type { Database } from '../../db/database.js';
import type { DeviceChangeFeed } from '../../db/device-changes.js';
import { ServerError } from '../../errors.js';
import type { PushEndpoints } from '../../mqtt/push-endpoints.js';
import type { DownloadLinks } from '../../ports/download-links.js';
import type { SignedUrl } from '../../signed-url/signed-url.js';
import { scheduleOfRow } from '../actions/action-schedule.js';
import type { DeltaOfferSource } from '../deltas/delta-offer.js';
import { setReportedState } from '../devices/device.repository.js';
import { findEnvelope } from '../releases/release.repository.js';
import {
  checkInStateQuery,
  findActionForDevice,
  findReleaseOfDeviceAction,
  listReleasePayloads,
  storeReportDigest,
} from './device-api.repository.js';
import type { LastSeenTracker } from './last-seen-tracker.js';

/** What the route sends: 304 (no body) or 200 with a body; both with the ETag. */
export type CheckInAnswer =
  | { readonly status: 304; readonly etag: string }
  | {
      readonly status: 200;
      readonly etag: string;
      readonly body: CheckInResponse;
    };

/** Poll intervals (seconds) told to devices. */
export interface PollIntervals {
  readonly idle: number;
  readonly active: number;
}

const PREFIX = '/api/device/v1';

const byFirst = (a: readonly unknown[], b: readonly unknown[]) =>
  (a[0] as string) < (b[0] as string) ? -1 : (a[0] as string) > (b[0] as string) ? 1 : 0;

/**
 * Canonical digest of a report: components by id, attributes by name (code-point order), so
 * order never matters. Runs on every check-in, hence plain loops and a one-shot hash.
 */
export function reportDigest(report: CheckInReport): string {
  const components: unknown[][] = [];
  for (const c of report.components ?? [])
    components.push([c.id, c.version ?? null, c.sequenceNumber ?? null, c.digest ?? null]);
  if (components.length > 1) components.sort(byFirst);
  const attributes = report.attributes === undefined ? [] : Object.entries(report.attributes);
  if (attributes.length > 1) attributes.sort(byFirst);
  return hash('sha256', JSON.stringify([components, attributes]), 'base64url');
}

/** A component listed twice is no state a device can be in: refused before anything is written. */
function refuseDuplicateComponents(report: CheckInReport): void {
  const components = report.components ?? [];
  if (components.length < 2) return;
  const seen = new Set<string>();
  for (const c of components) {
    if (seen.has(c.id)) {
      throw new ServerError('DEVICE_COMPONENT_DUPLICATE', `component ${c.id} is listed twice`, {
        details: { component: c.id },
      });
    }
    seen.add(c.id);
  }
}

function tagOf(text: string): string {
  return `"${hash('sha256', text, 'base64url').slice(0, 27)}"`;
}

// The idle answer depends on the poll interval alone: its tag is computed once per interval.
const idleTags = new Map<number, string>();
function idleTag(pollIntervalSeconds: number): string {
  let tag = idleTags.get(pollIntervalSeconds);
  if (tag === undefined) {
    tag = tagOf(`v1|${pollIntervalSeconds}|none`);
    idleTags.set(pollIntervalSeconds, tag);
  }
  return tag;
}

// With push, the idle answer also holds the device's endpoint: its tag is kept per poll interval,
// weakly by the endpoint object, which PushEndpoints returns unchanged while URL and topic root
// hold (a map of tags, not a record per endpoint: a million cached endpoints share it).
const idlePushTags = new Map<number, WeakMap<PushEndpoint, string>>();
function idlePushTag(pollIntervalSeconds: number, push: PushEndpoint): string {
  let tags = idlePushTags.get(pollIntervalSeconds);
  if (tags === undefined) {
    tags = new WeakMap();
    idlePushTags.set(pollIntervalSeconds, tags);
  }
  let tag = tags.get(push);
  if (tag === undefined) {
    tag = tagOf(`v1|${pollIntervalSeconds}|none|${push.url}|${push.topicRoot}`);
    tags.set(push, tag);
  }
  return tag;
}

/** True when an `If-None-Match` header lists `etag` (weak comparison, as RFC 9110 asks for it). */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined || header.length > 1024) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((part) => part.trim().replace(/^W\//, '') === etag);
}

/**
 * Device check-in. An idle device (no open action) gets a constant answer, so its 304 is decided
 * from one indexed lookup (device ⟕ last report ⟕ open action by the unique `open_key`). With an
 * open action the ETag hashes the whole answer, which is stable within a signed-URL window. The
 * device's report is written only when its digest differs from the stored one; last-seen goes to
 * the {@link LastSeenTracker}. An idle poll therefore writes nothing.
 */
export class CheckInService {
  readonly #state: ReturnType<typeof checkInStateQuery>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly urls: SignedUrl,
    private readonly poll: PollIntervals,
    private readonly lastSeen: LastSeenTracker,
    private readonly now: () => Date,
    private readonly changes: Pick<DeviceChangeFeed, 'announce'>,
    private readonly deltas?: DeltaOfferSource,
    /** Tells devices where to subscribe for push notices (absent: MQTT off). */
    private readonly push?: Pick<PushEndpoints, 'of'>,
    /** Direct links on the object store or CDN (absent: downloads go through the service). */
    private readonly links?: DownloadLinks,
  ) {
    this.#state = checkInStateQuery(db);
  }

  /**
   * Records the report (if changed) and answers with the open action or 304. `rawBody`, the
   * report's JSON text when the caller has it, lets a byte-identical repeat skip the digest.
   * `channel` `mqtt` (the device API over MQTT, which downloads in chunks through the service)
   * always gets the service's own URLs; `http` gets direct links when they are configured.
   */
  async checkIn(
    device: DevicePrincipal,
    report: CheckInReport,
    ifNoneMatch: string | undefined,
    rawBody?: string,
    channel: 'http' | 'mqtt' = 'http',
  ): Promise<CheckInAnswer> {
    refuseDuplicateComponents(report);
    const nowMs = this.now().getTime();
    // Read with the credential when the authenticator did (none or one statement per idle poll).
    const prefetched = prefetchedCheckInState(device);
    const state =
      prefetched ??
      (await this.#state({ deviceId: device.deviceId, tenantId: device.tenantId })).map((r) => ({
        reportDigest: r.report_digest,
        actionId: r.actionId,
      }))[0];
    const digest = this.#digest(prefetched, report, rawBody);
    if (state?.reportDigest !== digest)
      await this.#storeReport(device, report, digest, new Date(nowMs).toISOString());
    this.lastSeen.touch(device.tenantId, device.deviceId);

    const actionId = state?.actionId ?? null;
    const pollIntervalSeconds = actionId === null ? this.poll.idle : this.poll.active;
    const push = await this.push?.of(device.tenantId, device.deviceId, prefetched?.deviceName);
    if (actionId === null) {
      // Idle: the answer is a constant (per device with push), so the ETag needs no other query.
      const etag =
        push === undefined ? idleTag(pollIntervalSeconds) : idlePushTag(pollIntervalSeconds, push);
      if (etagMatches(ifNoneMatch, etag)) return { status: 304, etag };
      return {
        status: 200,
        etag,
        body: { pollIntervalSeconds, action: null, ...(push ? { push } : {}) },
      };
    }
    // An open action: the ETag is the hash of the whole answer (signed URLs are stable within
    // their window, delta offers may appear once a patch is ready), so it is exact.
    const links = channel === 'http' ? this.links : undefined;
    const action = await this.#deviceAction(device, actionId, nowMs, links);
    const body = { pollIntervalSeconds, action, ...(push ? { push } : {}) };
    const etag = tagOf(JSON.stringify(body));
    if (etagMatches(ifNoneMatch, etag)) return { status: 304, etag };
    return { status: 200, etag, body };
  }

  /** The signed envelope of the device's own action `actionId` (`RESOURCE_NOT_FOUND` else). */
  async envelope(device: DevicePrincipal, actionId: string): Promise<Uint8Array> {
    const releaseId = await findReleaseOfDeviceAction(
      this.db,
      device.tenantId,
      device.deviceId,
      actionId,
    );
    const bytes = releaseId && (await findEnvelope(this.db, device.tenantId, releaseId));
    if (!bytes) throw new ServerError('RESOURCE_NOT_FOUND', `action ${actionId} not found`);
    return bytes;
  }

  // The last raw report and its digest, per cached device session (gone with the session).
  readonly #lastReports = new WeakMap<PrefetchedCheckInState, { raw: string; digest: string }>();
  readonly #shared = new SharedStrings(10_000);

  #digest(
    session: PrefetchedCheckInState | undefined,
    report: CheckInReport,
    raw: string | undefined,
  ): string {
    if (session === undefined || raw === undefined) return reportDigest(report);
    const last = this.#lastReports.get(session);
    if (last !== undefined && last.raw === raw) return last.digest;
    const digest = reportDigest(report);
    // Kept per cached session: devices on the same firmware send the same text, so one copy of
    // each (the stored digest is usually this one already).
    this.#lastReports.set(session, {
      raw: raw.length <= 1024 ? this.#shared.of(raw) : raw,
      digest: digest === session.reportDigest ? session.reportDigest : this.#shared.of(digest),
    });
    return digest;
  }

  async #deviceAction(
    device: DevicePrincipal,
    actionId: string,
    nowMs: number,
    links: DownloadLinks | undefined,
  ): Promise<DeviceAction | null> {
    const row = await findActionForDevice(this.db, device.tenantId, actionId);
    if (row === undefined) return null;
    // A direct link cannot be revoked before it expires: none for an action already closed (the
    // open action came from a cached session that a close is about to invalidate).
    const direct = row.open_key === null ? undefined : links;
    const payloads = await listReleasePayloads(this.db, device.tenantId, row.releaseId);
    // The URLs name the action and the credential: serving checks both are still live.
    const grant = {
      tenantId: device.tenantId,
      deviceId: device.deviceId,
      actionId: row.id,
      credentialId: device.credentialId,
      exp: this.urls.expiryFor(nowMs),
    };
    const listed = payloads.map((p) => ({
      component: p.component_id,
      digest: p.sha256,
      size: Number(p.size),
    }));
    const offers =
      (await this.deltas?.offers(device, row.releaseId, listed, nowMs, row.id, direct)) ??
      new Map<string, DeltaOffer>();
    const directUrls =
      direct === undefined
        ? undefined
        : await Promise.all(listed.map(async (p) => (await direct.direct(p.digest, nowMs))?.url));
    return {
      id: row.id,
      state: row.state,
      cancelRequested: Number(row.cancel_requested) === 1,
      ...scheduleOfRow(row),
      release: {
        id: row.releaseId,
        version: row.version,
        sequenceNumber: Number(row.sequence_number),
      },
      envelopeUrl: `${PREFIX}/actions/${row.id}/envelope`,
      payloads: listed.map((p, i) => {
        const delta = offers.get(p.digest);
        return {
          ...p,
          url:
            directUrls?.[i] ??
            `${PREFIX}/artifacts/${p.digest}?${this.urls.sign({ ...grant, digest: p.digest })}`,
          ...(delta !== undefined ? { delta } : {}),
        };
      }),
    };
  }

  async #storeReport(
    device: DevicePrincipal,
    report: CheckInReport,
    digest: string,
    at: string,
  ): Promise<void> {
    const { tenantId, deviceId } = device;
    await this.db.transaction().execute(async (trx) => {
      // A report is the device's whole state: what it omits, it does not have.
      await setReportedState(
        trx,
        tenantId,
        deviceId,
        {
          components: (report.components ?? []).map((c) => ({
            id: c.id,
            version: c.version ?? null,
            sequenceNumber: c.sequenceNumber ?? null,
            digest: c.digest ?? null,
          })),
          attributes: report.attributes ?? {},
        },
        at,
      );
      await storeReportDigest(trx, tenantId, deviceId, digest, at);
    });
    // The stored digest changed: a cached session must not skip the next (different) report.
    this.changes.announce(tenantId, deviceId);
  }
}
