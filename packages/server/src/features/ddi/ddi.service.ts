import { randomBytes } from 'node:crypto';
import type { ActionType } from '@updraft/core';
import { RecurringWindow } from '@updraft/core';
import type { Kysely } from 'kysely';
import type { DeviceAuthenticator } from '../../auth/device-authenticator.js';
import { hashToken, newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import type { AuditedRun } from '../../http/audit-hook.js';
import type { DownloadLinks } from '../../ports/download-links.js';
import type { SignedUrl } from '../../signed-url/signed-url.js';
import { DEFAULT_TENANT_ID, findTenantByName } from '../../tenants/tenant.repository.js';
import type { ActionService } from '../actions/action.service.js';
import { scheduleOfRow } from '../actions/action-schedule.js';
import type { ActionState } from '../actions/action-state-machine.js';
import { appendAudit } from '../audit/audit.repository.js';
import type { LastSeenTracker } from '../device-api/last-seen-tracker.js';
import { getDeviceClass } from '../device-classes/device-class.repository.js';
import { createDevices } from '../devices/device.repository.js';
import { isUniqueViolation } from '../releases/release.service.js';
import {
  applyConfigData,
  type ConfigDataMode,
  type DdiSettings,
  ddiPayloads,
  deviceHasRelease,
  ensureActionNumber,
  findControllerDevice,
  findDeviceActionByNumber,
  findGatewayToken,
  type GatewayTokenView,
  getDdiSettings,
  insertGatewayToken,
  latestActionMessages,
  listGatewayTokens,
  pollState,
  putDdiSettings,
  revokeGatewayToken,
} from './ddi.repository.js';
import {
  DDI_FEEDBACK_TABLE,
  type DdiExecution,
  type DdiFinished,
  noteStatus,
} from './ddi-feedback.js';

/** The authenticated controller of a DDI request. */
export interface DdiController {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly deviceClassId: string;
  /** The device credential (token or certificate id) when the device authenticated itself. */
  readonly credentialId?: string;
  /** `target` (TargetToken), `gateway` (GatewayToken) or `certificate` (mutual TLS). */
  readonly via: 'target' | 'gateway' | 'certificate';
}

/** The credentials of a DDI request. */
export interface DdiCredentials {
  readonly authorization: string | undefined;
  readonly peerCertificates: readonly string[] | undefined;
}

/** A DDI feedback body after validation. */
export interface DdiFeedback {
  readonly execution: DdiExecution;
  readonly finished: DdiFinished;
  readonly progress?: { readonly cnt: number; readonly of?: number } | undefined;
  readonly details: readonly string[];
}

/** hawkBit's `HH:MM:SS`. */
export function ddiSleep(seconds: number): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(Math.floor(seconds / 3600))}:${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}`;
}

/** hawkBit's handling types: `skip`, `attempt` or `forced`. */
export type DdiHandling = 'skip' | 'attempt' | 'forced';

/**
 * The `download`/`update` handling of an action's type, and whether its maintenance window is
 * open now (`null`: it has none). A closed window skips the update (hawkBit's rule).
 */
export function ddiHandling(
  row: Parameters<typeof scheduleOfRow>[0],
  nowMs: number,
): { download: DdiHandling; update: DdiHandling; window: 'available' | 'unavailable' | null } {
  const schedule = scheduleOfRow(row);
  const byType: Record<ActionType, { download: DdiHandling; update: DdiHandling }> = {
    forced: { download: 'forced', update: 'forced' },
    soft: { download: 'attempt', update: 'attempt' },
    'download-only': { download: 'forced', update: 'skip' },
    'time-forced':
      schedule.forceAfter !== null && Date.parse(schedule.forceAfter) <= nowMs
        ? { download: 'forced', update: 'forced' }
        : { download: 'attempt', update: 'attempt' },
  };
  const handling = byType[schedule.type];
  let window: 'available' | 'unavailable' | null = null;
  if (schedule.maintenanceWindow !== null) {
    const w = schedule.maintenanceWindow;
    window =
      Date.parse(w.start) <= nowMs && nowMs < Date.parse(w.end) ? 'available' : 'unavailable';
  }
  if (schedule.recurringWindow !== null) {
    const open = RecurringWindow.from(schedule.recurringWindow).isOpen(nowMs);
    window = window === 'unavailable' || !open ? 'unavailable' : 'available';
  }
  return { ...handling, update: window === 'unavailable' ? 'skip' : handling.update, window };
}

const GATEWAY_PREFIX = 'updraft_gateway_';
const AUTH = /^(TargetToken|GatewayToken) ([A-Za-z0-9._~+/=-]{16,512})$/;

/**
 * The hawkBit DDI API's logic (docs/hawkbit-ddi.md): authenticates controllers (TargetToken,
 * GatewayToken, mutual TLS), registers unknown ones when the tenant allows it, and shows
 * Updraft's own actions in DDI's shapes; reports go through the action service's walk.
 */
export class DdiService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly deviceAuth: DeviceAuthenticator,
    private readonly actions: ActionService,
    private readonly urls: SignedUrl,
    private readonly lastSeen: LastSeenTracker,
    private readonly now: () => Date,
    /** Polling sleep when a tenant set none (`device.pollIntervalSeconds`). */
    private readonly defaultSleepSeconds: number,
    /** Direct links on the object store or CDN (absent: downloads go through the service). */
    private readonly links?: DownloadLinks,
  ) {}

  /** The tenant a DDI path segment names: its name, or `DEFAULT` for the default tenant. */
  async tenantOf(segment: string): Promise<string | undefined> {
    if (segment.toUpperCase() === 'DEFAULT') return DEFAULT_TENANT_ID;
    return (await findTenantByName(this.db, segment))?.id;
  }

  /**
   * Who is calling for `controllerId` of tenant `segment`, or a 401 (`AUTH_UNAUTHENTICATED`)
   * that does not say which part was wrong. A gateway token may act for any controller of its
   * tenant (of its device class when scoped) and registers unknown ones when allowed.
   */
  async authenticate(
    credentials: DdiCredentials,
    segment: string,
    controllerId: string,
    requestId: string,
  ): Promise<DdiController> {
    const refused = () =>
      new ServerError(
        'AUTH_UNAUTHENTICATED',
        'A valid TargetToken, GatewayToken or client certificate for this controller is required.',
      );
    const tenantId = await this.tenantOf(segment);
    if (tenantId === undefined) throw refused();
    const m = credentials.authorization === undefined ? null : AUTH.exec(credentials.authorization);
    if (credentials.authorization !== undefined && m === null) throw refused();
    if (m?.[1] === 'GatewayToken') {
      const token = m[2] as string;
      if (!token.startsWith(GATEWAY_PREFIX)) throw refused();
      const gateway = await findGatewayToken(this.db, hashToken(token));
      if (gateway === undefined || gateway.tenant_id !== tenantId) throw refused();
      const device =
        (await findControllerDevice(this.db, tenantId, controllerId)) ??
        (await this.#register(tenantId, controllerId, gateway, requestId));
      if (device.admission !== 'accepted' || device.decommissioned_at !== null) throw refused();
      if (gateway.device_class_id !== null && gateway.device_class_id !== device.device_class_id) {
        throw new ServerError(
          'AUTH_FORBIDDEN',
          'This gateway token is scoped to another device class.',
        );
      }
      const controller: DdiController = {
        tenantId,
        deviceId: device.id,
        deviceClassId: device.device_class_id,
        via: 'gateway',
      };
      this.lastSeen.touch(tenantId, device.id);
      return controller;
    }
    // The device's own credential: its token (as the native API's bearer) or its certificate.
    const principal = await this.deviceAuth.authenticate({
      headers: m === null ? {} : { authorization: `Bearer ${m[2]}` },
      peerCertificates: credentials.peerCertificates,
    });
    if (principal === null || principal.tenantId !== tenantId) throw refused();
    const device = await findControllerDevice(this.db, tenantId, controllerId);
    if (device?.id !== principal.deviceId) throw refused();
    this.lastSeen.touch(tenantId, device.id);
    return {
      tenantId,
      deviceId: device.id,
      deviceClassId: device.device_class_id,
      ...(principal.credentialId !== undefined ? { credentialId: principal.credentialId } : {}),
      via: m === null ? 'certificate' : 'target',
    };
  }

  async #register(
    tenantId: string,
    name: string,
    gateway: { id: string; device_class_id: string | null },
    requestId: string,
  ) {
    const settings = await getDdiSettings(this.db, tenantId, this.defaultSleepSeconds);
    const deviceClassId = gateway.device_class_id ?? settings.deviceClassId;
    if (!settings.autoRegister || deviceClassId === null) {
      throw new ServerError(
        'DDI_CONTROLLER_UNKNOWN',
        `controller ${name} is not registered and this tenant does not register controllers on first poll`,
      );
    }
    if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(name)) {
      throw new ServerError('HTTP_VALIDATION_FAILED', 'this controller id cannot be a device name');
    }
    const at = this.now().toISOString();
    try {
      await this.db.transaction().execute(async (trx) => {
        const [created] = await createDevices(trx, tenantId, [{ name, deviceClassId }], at);
        await appendAudit(
          trx,
          {
            tenantId,
            actorType: 'system',
            actorId: gateway.id,
            action: 'device.register',
            resourceType: 'device',
            resourceId: created?.device.id ?? null,
            change: { name, deviceClassId, via: 'ddi-plug-and-play' },
            ip: null,
            outcome: 'success',
            status: 201,
            requestId,
          },
          at,
        );
      });
    } catch (error) {
      // Two first polls raced: the other one registered it.
      if (!isUniqueViolation(error)) throw error;
    }
    const device = await findControllerDevice(this.db, tenantId, name);
    if (device === undefined)
      throw new ServerError('DDI_CONTROLLER_UNKNOWN', `controller ${name} not found`);
    return device;
  }

  /** The root poll: polling sleep and the links to what the controller should do. */
  async poll(ctl: DdiController, base: string) {
    const settings = await getDdiSettings(this.db, ctl.tenantId, this.defaultSleepSeconds);
    const state = await pollState(this.db, ctl.tenantId, ctl.deviceId);
    const links: Record<string, { href: string }> = {};
    if (state.open !== undefined) {
      const number =
        state.open.number === null
          ? await ensureActionNumber(this.db, ctl.tenantId, state.open.id)
          : Number(state.open.number);
      if (Number(state.open.cancel_requested) === 1)
        links.cancelAction = { href: `${base}/cancelAction/${number}` };
      else links.deploymentBase = { href: `${base}/deploymentBase/${number}` };
    }
    if (state.installed !== undefined)
      links.installedBase = { href: `${base}/installedBase/${Number(state.installed.number)}` };
    links.configData = { href: `${base}/configData` };
    return {
      config: { polling: { sleep: ddiSleep(settings.pollingSleepSeconds) } },
      _links: links,
    };
  }

  async #action(ctl: DdiController, number: number) {
    const row = await findDeviceActionByNumber(this.db, ctl.tenantId, ctl.deviceId, number);
    if (row === undefined)
      throw new ServerError('RESOURCE_NOT_FOUND', `action ${number} not found`);
    return row;
  }

  /** `deploymentBase/{actionId}` (or `installedBase`): the action's chunks and artifacts. */
  async deployment(ctl: DdiController, number: number, base: string, installed: boolean) {
    const row = await this.#action(ctl, number);
    if (installed ? row.state !== 'success' : row.open_key === null) {
      throw new ServerError(
        'RESOURCE_NOT_FOUND',
        `action ${number} is not ${installed ? 'installed' : 'open'}`,
      );
    }
    const nowMs = this.now().getTime();
    const payloads = await ddiPayloads(this.db, ctl.tenantId, row.releaseId);
    const grant = {
      tenantId: ctl.tenantId,
      deviceId: ctl.deviceId,
      ...(installed ? {} : { actionId: row.id }),
      ...(ctl.credentialId !== undefined ? { credentialId: ctl.credentialId } : {}),
      exp: this.urls.expiryFor(nowMs),
    };
    const https = base.startsWith('https:');
    // Direct links only for the open action (installedBase names a closed one): a direct link
    // cannot be revoked before it expires. The small .MD5SUM files stay on the service.
    const direct = installed ? undefined : this.links;
    const directUrls = await Promise.all(
      payloads.map(async (p) => (await direct?.direct(p.sha256, nowMs))?.url),
    );
    const artifacts = payloads.map((p, i) => {
      const filename = p.file_name ?? `${p.component_id}.bin`;
      const url = `${base}/softwaremodules/${row.releaseId}/artifacts/${encodeURIComponent(filename)}`;
      const q = `?${this.urls.sign({ ...grant, digest: p.sha256 })}`;
      const download = directUrls[i] ?? `${url}${q}`;
      const links: Record<string, { href: string }> = {
        'download-http': { href: download },
        'md5sum-http': { href: `${url}.MD5SUM${q}` },
      };
      if (https) {
        links.download = { href: download };
        links.md5sum = { href: `${url}.MD5SUM${q}` };
      }
      return {
        filename,
        hashes: { sha1: p.sha1, md5: p.md5, sha256: p.sha256 },
        size: Number(p.size),
        _links: links,
      };
    });
    const text = row.text === null ? {} : (JSON.parse(row.text) as Record<string, unknown>);
    const name = typeof text.modelName === 'string' ? text.modelName : `release-${row.version}`;
    const chunk = { part: 'os', version: row.version, name, artifacts };
    const handling = ddiHandling(row, nowMs);
    const history = await latestActionMessages(this.db, ctl.tenantId, row.id, 10);
    const actionHistory = {
      status: (row.state as ActionState).toUpperCase(),
      messages: history.map((e) => `${e.at} ${e.status}${e.message ? `: ${e.message}` : ''}`),
    };
    if (installed) return { id: String(number), deployment: { chunks: [chunk] }, actionHistory };
    return {
      id: String(number),
      deployment: {
        download: handling.download,
        update: handling.update,
        ...(handling.window !== null ? { maintenanceWindow: handling.window } : {}),
        chunks: [chunk],
      },
      actionHistory,
    };
  }

  /** Deployment feedback, mapped onto the action state machine (ddi-feedback.ts). */
  async feedback(ctl: DdiController, number: number, feedback: DdiFeedback): Promise<void> {
    const row = await this.#action(ctl, number);
    await this.#report(ctl, row.id, row.state as ActionState, feedback);
  }

  async #report(ctl: DdiController, actionId: string, state: ActionState, feedback: DdiFeedback) {
    const meaning = DDI_FEEDBACK_TABLE[feedback.execution](feedback.finished);
    // Bounded by the body limit; a client's log batch (SWUpdate sends its installer log) stays whole up to 16 KiB.
    const message = feedback.details.join('\n').slice(0, 16_384) || null;
    const progress =
      feedback.progress?.of !== undefined && feedback.progress.of > 0
        ? Math.min(100, Math.round((feedback.progress.cnt / feedback.progress.of) * 100))
        : null;
    const principal = { tenantId: ctl.tenantId, deviceId: ctl.deviceId };
    const reportId = `ddi_${randomBytes(12).toString('base64url')}`;
    const note = async () => {
      const status = noteStatus(state);
      if (status === null) return;
      await this.actions.reportWalk(principal, actionId, {
        reportId,
        status,
        progress: status === 'downloading' ? progress : null,
        code: null,
        message,
      });
    };
    try {
      if (meaning.kind === 'note') return await note();
      await this.actions.reportWalk(principal, actionId, {
        reportId,
        status: meaning.status,
        progress: meaning.status === 'downloading' ? progress : null,
        code: meaning.code,
        message,
      });
    } catch (error) {
      if (!(error instanceof ServerError) || error.code !== 'ACTION_TRANSITION_INVALID')
        throw error;
      const current = (error.details as { state?: string } | undefined)?.state;
      if (
        current === 'success' ||
        current === 'failure' ||
        current === 'rejected' ||
        current === 'canceled'
      ) {
        throw new ServerError('DDI_ACTION_CLOSED', `action ${actionId} is closed (${current})`, {
          details: { state: current },
        });
      }
      // A client reporting `downloading` after it began installing goes on: a progress note.
      if (
        meaning.kind === 'walk' &&
        (meaning.status === 'downloading' || meaning.status === 'downloaded')
      )
        return await note();
      throw error;
    }
  }

  /** `cancelAction/{id}`: the cancel request the controller should acknowledge. */
  async cancelAction(ctl: DdiController, number: number) {
    const row = await this.#action(ctl, number);
    if (Number(row.cancel_requested) !== 1)
      throw new ServerError('RESOURCE_NOT_FOUND', `action ${number} has no cancel request`);
    return { id: String(number), cancelAction: { stopId: String(number) } };
  }

  /**
   * Feedback on a cancel request: `closed` (whatever `finished` says, hawkBit's clients send
   * `success`) or `canceled` acknowledges it and the action ends `canceled`; `rejected` and
   * progress messages leave the action running (the device goes on with the update).
   */
  async cancelFeedback(ctl: DdiController, number: number, feedback: DdiFeedback): Promise<void> {
    const row = await this.#action(ctl, number);
    if (Number(row.cancel_requested) !== 1)
      throw new ServerError('RESOURCE_NOT_FOUND', `action ${number} has no cancel request`);
    const acknowledged =
      (feedback.execution === 'closed' && feedback.finished !== 'failure') ||
      feedback.execution === 'canceled';
    const state = row.state as ActionState;
    if (!acknowledged) return;
    if (state === 'canceled') return;
    await this.#report(ctl, row.id, state, { ...feedback, execution: 'canceled' });
  }

  /** `configData`: the controller's attributes, stored as its `reported` attributes. */
  async configData(ctl: DdiController, data: Record<string, string>, mode: ConfigDataMode) {
    await this.db.transaction().execute(async (trx) => {
      await applyConfigData(trx, ctl.tenantId, ctl.deviceId, data, mode);
    });
  }

  /**
   * The payload a download path names — release `moduleId`'s payload filed as `fileName` — once
   * the caller may have it: a signed URL of this device (checked by the route) or the device's
   * own credential and an action of the device deploying that release.
   */
  async payloadFor(tenantId: string, moduleId: string, fileName: string) {
    const payloads = await ddiPayloads(this.db, tenantId, moduleId);
    return payloads.find((p) => (p.file_name ?? `${p.component_id}.bin`) === fileName);
  }

  /** True when the controller may download release `moduleId`'s artifacts with its credential. */
  mayDownload(ctl: DdiController, moduleId: string): Promise<boolean> {
    return deviceHasRelease(this.db, ctl.tenantId, ctl.deviceId, moduleId);
  }

  // --- management -------------------------------------------------------------------------

  /** The tenant's DDI settings. */
  settings(tenantId: string): Promise<DdiSettings> {
    return getDdiSettings(this.db, tenantId, this.defaultSleepSeconds);
  }

  /** Replaces the tenant's DDI settings (the device class must exist). */
  async setSettings(
    audit: AuditedRun,
    tenantId: string,
    settings: DdiSettings,
  ): Promise<DdiSettings> {
    if (
      settings.deviceClassId !== null &&
      !(await getDeviceClass(this.db, tenantId, settings.deviceClassId))
    ) {
      throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${settings.deviceClassId}`);
    }
    if (settings.autoRegister && settings.deviceClassId === null) {
      throw new ServerError(
        'RESOURCE_INVALID',
        'autoRegister needs the deviceClassId of new controllers',
      );
    }
    const at = this.now().toISOString();
    await audit(async (trx) => {
      await putDdiSettings(trx, tenantId, settings, at);
      return { result: undefined, resourceId: tenantId, change: { ...settings } };
    });
    return settings;
  }

  /** Creates a gateway token; the token is in the answer only. */
  async createGatewayToken(
    audit: AuditedRun,
    tenantId: string,
    actorId: string,
    input: { name: string; deviceClassId: string | null },
  ): Promise<{ token: string; info: GatewayTokenView }> {
    if (
      input.deviceClassId !== null &&
      !(await getDeviceClass(this.db, tenantId, input.deviceClassId))
    ) {
      throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${input.deviceClassId}`);
    }
    const token = `${GATEWAY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const at = this.now().toISOString();
    const info: GatewayTokenView = {
      id: newId('gwt'),
      name: input.name,
      deviceClassId: input.deviceClassId,
      createdAt: at,
      createdBy: actorId,
      revokedAt: null,
    };
    await audit(async (trx) => {
      await insertGatewayToken(trx, {
        id: info.id,
        tenant_id: tenantId,
        name: info.name,
        token_hash: hashToken(token),
        device_class_id: info.deviceClassId,
        created_at: at,
        created_by: actorId,
        revoked_at: null,
      });
      return {
        result: undefined,
        resourceId: info.id,
        change: { name: info.name, deviceClassId: info.deviceClassId },
      };
    }, 201);
    return { token, info };
  }

  /** The tenant's gateway tokens. */
  gatewayTokens(tenantId: string): Promise<GatewayTokenView[]> {
    return listGatewayTokens(this.db, tenantId);
  }

  /** Revokes a gateway token: the next request with it fails. */
  async revokeGatewayToken(audit: AuditedRun, tenantId: string, id: string): Promise<void> {
    const at = this.now().toISOString();
    await audit(async (trx) => {
      if (!(await revokeGatewayToken(trx, tenantId, id, at)))
        throw new ServerError('RESOURCE_NOT_FOUND', `no live gateway token ${id}`);
      return { result: undefined, resourceId: id, change: { revoked: true } };
    });
  }
}
