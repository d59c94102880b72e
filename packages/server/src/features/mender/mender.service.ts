import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import type { DeviceChangeFeed } from '../../db/device-changes.js';
import { ServerError } from '../../errors.js';
import type { AuditedRun } from '../../http/audit-hook.js';
import type { DownloadLinks } from '../../ports/download-links.js';
import type { SignedUrl } from '../../signed-url/signed-url.js';
import { DEFAULT_TENANT_ID, findTenantByName } from '../../tenants/tenant.repository.js';
import { findAction, insertActionEvent } from '../actions/action.repository.js';
import type { ActionService, DeviceReport } from '../actions/action.service.js';
import { isTerminal, reportPath } from '../actions/action-state-machine.js';
import type { LastSeenTracker } from '../device-api/last-seen-tracker.js';
import { isUniqueViolation } from '../releases/release.service.js';
import {
  type AuthSetWithDevice,
  authSetsOfIdentity,
  findDeviceClassId,
  insertAuthSet,
  listAuthSets,
  openMenderAction,
  type ReportedAttribute,
  setAuthSetStatus,
  writeReportedAttributes,
} from './mender.repository.js';
import type { MenderAuthSetStatus } from './mender.table.js';
import type { MenderJwt } from './mender-jwt.js';
import { readMenderPublicKey, verifyMenderSignature } from './mender-signature.js';
import { MENDER_STATUS_MAP, type MenderStatus } from './mender-status.js';

/** Bounds of what a Mender device may send (docs/mender-api.md#limits). */
export const MENDER_LIMITS = {
  /** Bytes of an auth request body. */
  authRequestBytes: 16 * 1024,
  /** Characters of id_data (a JSON object as a string). */
  idDataChars: 4096,
  /** Keys of id_data. */
  idDataKeys: 32,
  /** Reported inventory attributes per request. */
  attributes: 256,
  attributeNameChars: 128,
  attributeValueChars: 1024,
  /** Characters of a deployment log kept (its tail) in the action history. */
  logChars: 4096,
} as const;

/** The device class new, not pre-authorised Mender identities are registered in (pending). */
export const MENDER_DEVICE_CLASS = 'mender';

/** An auth set as the management API shows it. */
export interface MenderAuthSetView {
  readonly id: string;
  readonly deviceId: string;
  readonly deviceName: string;
  readonly idData: Record<string, unknown>;
  readonly publicKeyDigest: string;
  readonly status: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A deployment as mender-client expects it from `deployments/next`. */
export interface MenderDeployment {
  readonly id: string;
  readonly artifact: {
    readonly artifact_name: string;
    readonly source: { readonly uri: string; readonly expire: string };
    readonly device_types_compatible: readonly string[];
  };
}

interface Principal {
  readonly tenantId: string;
  readonly deviceId: string;
}

/** Identity data in canonical form: a flat JSON object, keys sorted. */
function canonicalIdData(text: string): { canonical: string; digest: string } {
  if (text.length === 0 || text.length > MENDER_LIMITS.idDataChars)
    throw new ServerError('MENDER_AUTH_REQUEST_INVALID', 'id_data must be 1 to 4096 characters');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ServerError('MENDER_AUTH_REQUEST_INVALID', 'id_data is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ServerError('MENDER_AUTH_REQUEST_INVALID', 'id_data must be a JSON object');
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length === 0 || entries.length > MENDER_LIMITS.idDataKeys)
    throw new ServerError('MENDER_AUTH_REQUEST_INVALID', 'id_data must have 1 to 32 keys');
  for (const [, v] of entries) {
    const ok =
      typeof v === 'string' ||
      typeof v === 'number' ||
      (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!ok)
      throw new ServerError(
        'MENDER_AUTH_REQUEST_INVALID',
        'id_data values must be strings, numbers or arrays of strings',
      );
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = JSON.stringify(Object.fromEntries(entries));
  return { canonical, digest: createHash('sha256').update(canonical).digest('hex') };
}

/** The device name of a Mender identity: `mender-` and the first 16 hex of its digest. */
export function menderDeviceName(idDataDigest: string): string {
  return `mender-${idDataDigest.slice(0, 16)}`;
}

/** The effective status of an existing auth set: the device's admission decides. */
function effectiveStatus(row: AuthSetWithDevice): MenderAuthSetStatus {
  if (row.decommissioned_at !== null || row.admission === 'rejected') return 'rejected';
  return row.admission === 'accepted' ? 'accepted' : 'pending';
}

/**
 * The Mender device API's rules (docs/mender-api.md): auth requests and admission, the JWT,
 * deployments mapped onto Updraft's actions, status and log reports, inventory.
 */
export class MenderService {
  constructor(
    private readonly deps: {
      readonly db: Kysely<Database>;
      readonly jwt: MenderJwt;
      readonly urls: SignedUrl;
      readonly actions: ActionService;
      readonly changes: DeviceChangeFeed;
      readonly now: () => Date;
      /** Every authenticated poll and report counts as the device seen (campaign soak, health). */
      readonly lastSeen: LastSeenTracker;
      /** Direct links on the object store or CDN (absent: downloads go through the service). */
      readonly links?: DownloadLinks;
    },
  ) {}

  /**
   * `auth_requests`: checks the body and its signature, finds or registers the auth set and
   * answers a token when it is accepted; 401 (`MENDER_DEVICE_NOT_ACCEPTED`) while pending or
   * rejected, as Mender's server does.
   */
  async authRequest(raw: Buffer, signature: string | string[] | undefined): Promise<string> {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ServerError('MENDER_AUTH_REQUEST_INVALID', 'body is not JSON');
    }
    const { id_data, pubkey, tenant_token } = (body ?? {}) as Record<string, unknown>;
    if (typeof id_data !== 'string' || typeof pubkey !== 'string')
      throw new ServerError('MENDER_AUTH_REQUEST_INVALID', 'id_data and pubkey must be strings');
    if (tenant_token !== undefined && typeof tenant_token !== 'string')
      throw new ServerError('MENDER_AUTH_REQUEST_INVALID', 'tenant_token must be a string');
    const key = readMenderPublicKey(pubkey);
    // Nothing below runs for a body its own key did not sign.
    verifyMenderSignature(key, raw, signature);
    const identity = canonicalIdData(id_data);
    const tenantId = await this.#tenantOf(tenant_token ?? '');
    const at = this.deps.now().toISOString();
    const decided = await this.deps.db
      .transaction()
      .execute(async (trx) => {
        const sets = await authSetsOfIdentity(trx, tenantId, identity.digest);
        const own = sets.find((s) => s.public_key_digest === key.digest);
        if (own !== undefined) {
          const status = effectiveStatus(own);
          if (status !== own.status) await setAuthSetStatus(trx, own.id, status, at);
          return { status, authSetId: own.id, deviceId: own.device_id };
        }
        if (sets.length > 0)
          throw new ServerError(
            'MENDER_IDENTITY_REFUSED',
            'this identity is registered with another key; pre-authorise the new key',
          );
        const classId = await findDeviceClassId(trx, tenantId, MENDER_DEVICE_CLASS);
        if (classId === undefined)
          throw new ServerError(
            'MENDER_IDENTITY_REFUSED',
            `unknown identity: pre-authorise it, or create a device class named '${MENDER_DEVICE_CLASS}' to register new devices as pending`,
          );
        const deviceId = newId('dev');
        const name = menderDeviceName(identity.digest);
        const taken = await trx
          .selectFrom('devices')
          .select('id')
          .where('tenant_id', '=', tenantId)
          .where('name', '=', name)
          .executeTakeFirst();
        if (taken !== undefined)
          throw new ServerError(
            'MENDER_IDENTITY_REFUSED',
            `a device named ${name} exists without this identity; pre-authorise it`,
          );
        await trx
          .insertInto('devices')
          .values({
            id: deviceId,
            tenant_id: tenantId,
            name,
            device_class_id: classId,
            created_at: at,
            last_seen_at: null,
            decommissioned_at: null,
            admission: 'pending',
          })
          .execute();
        const authSetId = newId('mas');
        await insertAuthSet(trx, {
          id: authSetId,
          tenant_id: tenantId,
          device_id: deviceId,
          id_data: identity.canonical,
          id_data_digest: identity.digest,
          public_key_pem: key.pem,
          public_key_digest: key.digest,
          status: 'pending',
          created_at: at,
          updated_at: at,
        });
        return { status: 'pending' as const, authSetId, deviceId };
      })
      .catch((error: unknown) => {
        // Two first requests of one identity raced: the loser is pending like the winner.
        if (isUniqueViolation(error))
          throw new ServerError('MENDER_DEVICE_NOT_ACCEPTED', 'the device is pending admission');
        throw error;
      });
    if (decided.status !== 'accepted')
      throw new ServerError(
        'MENDER_DEVICE_NOT_ACCEPTED',
        decided.status === 'pending'
          ? 'the device is pending admission (updraft device accept)'
          : 'the device is rejected',
        { details: { status: decided.status } },
      );
    return this.deps.jwt.issue(
      { tenantId, deviceId: decided.deviceId, authSetId: decided.authSetId },
      this.deps.now().getTime(),
    );
  }

  /**
   * Registers an identity with its key ahead of time (accepted on its first auth request). A
   * new identity gets a new, accepted device in `deviceClass`; a known identity keeps its device
   * (a new key for it — key rotation — is registered this way).
   */
  async preauthorize(
    audit: AuditedRun,
    tenantId: string,
    input: { idData: string; pubkey: string; deviceClass: string },
  ): Promise<MenderAuthSetView> {
    const identity = canonicalIdData(input.idData);
    const key = readMenderPublicKey(input.pubkey);
    const at = this.deps.now().toISOString();
    const id = await audit(async (trx) => {
      const sets = await authSetsOfIdentity(trx, tenantId, identity.digest);
      if (sets.some((s) => s.public_key_digest === key.digest))
        throw new ServerError('RESOURCE_CONFLICT', 'this identity and key are registered already');
      let deviceId = sets[0]?.device_id;
      if (deviceId === undefined) {
        const classId = await findDeviceClassId(trx, tenantId, input.deviceClass);
        if (classId === undefined)
          throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${input.deviceClass}`);
        deviceId = newId('dev');
        await trx
          .insertInto('devices')
          .values({
            id: deviceId,
            tenant_id: tenantId,
            name: menderDeviceName(identity.digest),
            device_class_id: classId,
            created_at: at,
            last_seen_at: null,
            decommissioned_at: null,
            admission: 'accepted',
          })
          .execute();
      }
      const authSetId = newId('mas');
      await insertAuthSet(trx, {
        id: authSetId,
        tenant_id: tenantId,
        device_id: deviceId,
        id_data: identity.canonical,
        id_data_digest: identity.digest,
        public_key_pem: key.pem,
        public_key_digest: key.digest,
        status: 'preauthorized',
        created_at: at,
        updated_at: at,
      });
      return {
        result: authSetId,
        resourceId: authSetId,
        change: { deviceId, idData: identity.canonical, publicKeyDigest: key.digest },
      };
    }, 201).catch((error: unknown) => {
      if (isUniqueViolation(error))
        throw new ServerError('RESOURCE_CONFLICT', 'a device of that name or this auth set exists');
      throw error;
    });
    const [view] = (await this.list(tenantId, undefined, 500)).filter((v) => v.id === id);
    if (view === undefined) throw new ServerError('RESOURCE_NOT_FOUND', 'auth set vanished');
    return view;
  }

  /** The tenant's auth sets, newest first. */
  async list(
    tenantId: string,
    status: MenderAuthSetStatus | undefined,
    limit: number,
  ): Promise<MenderAuthSetView[]> {
    const rows = await listAuthSets(this.deps.db, tenantId, status, limit);
    return rows.map((r) => ({
      id: r.id,
      deviceId: r.device_id,
      deviceName: r.device_name,
      idData: JSON.parse(r.id_data) as Record<string, unknown>,
      publicKeyDigest: r.public_key_digest,
      status: r.status,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  /**
   * `deployments/next`: the device's open action when its release has a `.mender` payload;
   * `null` (204) when there is none. An action whose cancel was requested is closed as
   * `canceled` here (the device has not started it: Mender has no cancel message); one whose
   * release has no `.mender` payload is failed with `MENDER_PAYLOAD_MISSING`.
   */
  async next(
    device: Principal,
    deviceType: string | undefined,
    base: string,
  ): Promise<MenderDeployment | null> {
    this.deps.lastSeen.touch(device.tenantId, device.deviceId);
    const open = await openMenderAction(this.deps.db, device.tenantId, device.deviceId);
    if (open === undefined) return null;
    if (open.cancelRequested) {
      await this.#walk(device, open.actionId, 'canceled', null, null);
      return null;
    }
    if (open.sha256 === null || open.size === null) {
      await this.#walk(
        device,
        open.actionId,
        'failure',
        'MENDER_PAYLOAD_MISSING',
        'the release has no .mender payload; a Mender device cannot install it',
      );
      return null;
    }
    const nowMs = this.deps.now().getTime();
    // The open action of an accepted device (the JWT authenticator checked it on this request).
    const direct = await this.deps.links?.direct(open.sha256, nowMs);
    const exp = direct?.expiresAt ?? this.deps.urls.expiryFor(nowMs);
    const query = this.deps.urls.sign({
      tenantId: device.tenantId,
      deviceId: device.deviceId,
      digest: open.sha256,
      exp,
      actionId: open.actionId,
    });
    return {
      id: open.actionId,
      artifact: {
        artifact_name: open.version,
        source: {
          uri: direct?.url ?? `${base}/api/device/v1/artifacts/${open.sha256}?${query}`,
          expire: new Date(exp * 1000).toISOString(),
        },
        // The artifact's own header is what mender-client checks before installing.
        device_types_compatible: deviceType === undefined ? [] : [deviceType],
      },
    };
  }

  /**
   * A deployment status report, walked onto the action through the legal intermediate steps
   * in one transaction. A closed (canceled, failed) or cancel-requested action answers
   * `MENDER_DEPLOYMENT_ABORTED` (409), which makes mender-client abandon the deployment; a
   * cancel request is recorded as `canceled` first when the state allows it.
   */
  async status(device: Principal, actionId: string, status: MenderStatus): Promise<void> {
    this.deps.lastSeen.touch(device.tenantId, device.deviceId);
    const mapping = MENDER_STATUS_MAP[status];
    let aborted = false;
    await this.deps.actions.reportToward(device, actionId, (current) => {
      if (isTerminal(current.state)) {
        // The same closing status again is a retry (204); anything else is too late.
        aborted = current.state !== mapping.to;
        return null;
      }
      if (current.cancelRequested) {
        aborted = true;
        return closing('canceled', null, 'canceled through the Mender API');
      }
      // A status behind the action's state (a retry after a restart) changes nothing.
      if (current.state !== mapping.to && reportPath(current.state, mapping.to) === null)
        return null;
      return closing(mapping.to, mapping.code, `mender-client: ${status}`);
    });
    if (aborted)
      throw new ServerError(
        'MENDER_DEPLOYMENT_ABORTED',
        'the deployment was canceled or is closed',
      );
  }

  /** A deployment log: its tail (bounded) goes into the action's history. */
  async log(
    device: Principal,
    actionId: string,
    messages: readonly { timestamp?: string; level?: string; message?: string }[],
  ): Promise<void> {
    const text = messages
      .map((m) => `${m.timestamp ?? ''} ${m.level ?? ''} ${m.message ?? ''}`.trim())
      .join('\n');
    const tail = text.length > MENDER_LIMITS.logChars ? text.slice(-MENDER_LIMITS.logChars) : text;
    await this.deps.db.transaction().execute(async (trx) => {
      const action = await findAction(trx, device.tenantId, actionId, device.deviceId);
      if (action === undefined)
        throw new ServerError('RESOURCE_NOT_FOUND', `action ${actionId} not found`);
      // A note in the history at the action's current state, not a transition: the log
      // usually arrives after the closing `failure`, when the state machine takes no more.
      await insertActionEvent(trx, action, this.deps.now().toISOString(), {
        source: 'device',
        status: action.state,
        code: 'MENDER_DEPLOYMENT_LOG',
        message: tail,
      });
    });
  }

  /** Inventory: `replace` (PUT) or merge (PATCH) the device's reported attributes. */
  async inventory(
    device: Principal,
    attributes: readonly { name: string; value: unknown }[],
    replace: boolean,
  ): Promise<void> {
    if (attributes.length > MENDER_LIMITS.attributes)
      throw new ServerError('RESOURCE_INVALID', `at most ${MENDER_LIMITS.attributes} attributes`);
    const byName = new Map<string, ReportedAttribute>();
    for (const a of attributes) byName.set(a.name, encodeAttribute(a.name, a.value));
    await this.deps.db.transaction().execute(async (trx) => {
      await writeReportedAttributes(
        trx,
        device.tenantId,
        device.deviceId,
        [...byName.values()],
        replace,
      );
      await trx
        .updateTable('devices')
        .set({ last_seen_at: this.deps.now().toISOString() })
        .where('tenant_id', '=', device.tenantId)
        .where('id', '=', device.deviceId)
        .execute();
    });
    this.deps.changes.announce(device.tenantId, device.deviceId);
  }

  async #tenantOf(token: string): Promise<string> {
    if (token === '') return DEFAULT_TENANT_ID;
    const tenant = await findTenantByName(this.deps.db, token);
    if (tenant === undefined)
      throw new ServerError('MENDER_IDENTITY_REFUSED', 'tenant_token names no tenant');
    return tenant.id;
  }

  async #walk(
    device: Principal,
    actionId: string,
    to: 'canceled' | 'failure',
    code: string | null,
    message: string | null,
  ): Promise<void> {
    await this.deps.actions.reportToward(device, actionId, () => closing(to, code, message));
  }
}

/** The report a Mender status walks the action to (the walk's steps: ActionService). */
function closing(
  status: DeviceReport['status'],
  code: string | null,
  message: string | null,
): DeviceReport {
  return { reportId: newId('mdr'), status, progress: null, code, message };
}

function encodeAttribute(name: string, value: unknown): ReportedAttribute {
  if (name.length === 0 || name.length > MENDER_LIMITS.attributeNameChars)
    throw new ServerError('RESOURCE_INVALID', 'attribute names must be 1 to 128 characters');
  let encoded: ReportedAttribute;
  if (typeof value === 'number' && Number.isFinite(value))
    encoded = { name, type: 'number', value: String(value) };
  else if (typeof value === 'boolean') encoded = { name, type: 'boolean', value: String(value) };
  else if (typeof value === 'string') encoded = { name, type: 'string', value };
  else if (
    Array.isArray(value) &&
    value.every((v) => typeof v === 'string' || typeof v === 'number')
  )
    encoded = { name, type: 'string', value: value.join(',') };
  else throw new ServerError('RESOURCE_INVALID', `attribute ${name}: unsupported value`);
  if (encoded.value.length > MENDER_LIMITS.attributeValueChars)
    throw new ServerError('RESOURCE_INVALID', `attribute ${name}: value over 1024 characters`);
  return encoded;
}
