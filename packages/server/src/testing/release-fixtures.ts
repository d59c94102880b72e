import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  classIdFromName,
  componentIdFromHex,
  createEnvelope,
  createKeySigner,
  exportPem,
  formatUuid,
  generateSigningKeyPair,
  type SigningKeyPair,
  signEnvelope,
  vendorIdFromDomain,
} from '@updraft/core';
import type { Kysely } from 'kysely';
import { hashToken, newId, newToken } from '../auth/secrets.js';
import type { Database } from '../db/database.js';
import { ensureTenant } from '../tenants/tenant.repository.js';

/** A device class with one trusted signing key, and one registered device with its token. */
export interface Fleet {
  readonly tenantId: string;
  readonly deviceClassId: string;
  readonly vendorId: string;
  readonly classId: string;
  readonly key: SigningKeyPair;
  readonly kid: string;
  readonly devices: readonly {
    readonly id: string;
    readonly token: string;
    /** The token's id, as a device principal carries it. */
    readonly credentialId: string;
  }[];
}

/**
 * Test setup written straight into the platform's tables (device classes, trusted keys, devices,
 * device tokens), so release/action tests do not depend on those routes.
 */
export async function seedFleet(
  db: Kysely<Database>,
  options: { tenantId?: string; deviceCount?: number; className?: string } = {},
): Promise<Fleet> {
  const tenantId = options.tenantId ?? 'ten_default';
  const at = new Date().toISOString();
  await ensureTenant(db, tenantId, tenantId, at);
  const name = options.className ?? `class-${randomBytes(4).toString('hex')}`;
  const vendor = vendorIdFromDomain('example.com');
  const vendorId = formatUuid(vendor);
  const classId = formatUuid(classIdFromName(vendor, name));
  const deviceClassId = newId('cls');
  await db
    .insertInto('device_classes')
    .values({
      id: deviceClassId,
      tenant_id: tenantId,
      name,
      vendor_name: 'example.com',
      model_name: name,
      vendor_id: vendorId,
      class_id: classId,
      created_at: at,
    })
    .execute();
  const key = generateSigningKeyPair('es256');
  const kid = await addTrustedKey(db, tenantId, deviceClassId, key);
  const devices: { id: string; token: string; credentialId: string }[] = [];
  for (let i = 0; i < (options.deviceCount ?? 1); i++)
    devices.push(await addDevice(db, tenantId, deviceClassId));
  return { tenantId, deviceClassId, vendorId, classId, key, kid, devices };
}

/** Trusts `key` for the class; returns its kid (hex). */
export async function addTrustedKey(
  db: Kysely<Database>,
  tenantId: string,
  deviceClassId: string,
  key: SigningKeyPair,
): Promise<string> {
  const kid = Buffer.from(key.kid).toString('hex');
  await db
    .insertInto('trusted_keys')
    .values({
      id: newId('key'),
      tenant_id: tenantId,
      device_class_id: deviceClassId,
      kid,
      format: 'pem',
      public_key_pem: exportPem(key.publicKey),
      source: exportPem(key.publicKey),
      algorithm: key.alg,
      created_at: new Date().toISOString(),
      created_by: null,
      revoked_at: null,
      revoked_by: null,
      revocation_reason: null,
    })
    .execute();
  return kid;
}

/** Registers a device of the class; returns its id, bearer token and the token's id. */
export async function addDevice(
  db: Kysely<Database>,
  tenantId: string,
  deviceClassId: string,
): Promise<{ id: string; token: string; credentialId: string }> {
  const id = newId('dev');
  const token = newToken('device');
  const credentialId = newId('dtk');
  const at = new Date().toISOString();
  await db
    .insertInto('devices')
    .values({
      id,
      tenant_id: tenantId,
      name: id,
      device_class_id: deviceClassId,
      created_at: at,
      last_seen_at: null,
      decommissioned_at: null,
    })
    .execute();
  await db
    .insertInto('device_tokens')
    .values({
      id: credentialId,
      tenant_id: tenantId,
      device_id: id,
      token_hash: hashToken(token),
      created_at: at,
      revoked_at: null,
    })
    .execute();
  return { id, token, credentialId };
}

/** A signed envelope for `payloads` (component i gets id `8141<i>` style hex ids from core). */
export async function signedEnvelope(
  fleet: Pick<Fleet, 'vendorId' | 'classId'>,
  signer: SigningKeyPair,
  sequenceNumber: number,
  payloads: readonly Uint8Array[],
  version = '1.0.0',
): Promise<Uint8Array> {
  const unsigned = createEnvelope({
    vendorId: fleet.vendorId,
    classId: fleet.classId,
    sequenceNumber,
    components: payloads.map((p, i) => ({
      id: componentHex(i),
      digest: createHash('sha256').update(p).digest(),
      size: p.length,
      uri: `https://updates.example/${i}.bin`,
    })),
    text: {
      en: {
        fields: { updateDescription: `release ${version}` },
        components: [
          { id: componentIdFromHex(componentHex(0)), fields: { componentVersion: version } },
        ],
      },
    },
  });
  return signEnvelope(unsigned, createKeySigner(signer.privateKey));
}

/** An `app.inject` look-alike over real HTTP to `base`, for {@link uploadRelease} against a spawned server. */
export function injectOverHttp(base: string) {
  return {
    inject: async (o: object) => {
      const { method, url, headers, payload } = o as {
        method: string;
        url: string;
        headers: Record<string, string>;
        payload: unknown;
      };
      const res = await fetch(`${base}${url}`, { method, headers, body: JSON.stringify(payload) });
      return { statusCode: res.status, body: await res.text() };
    },
  };
}

/** Signs a release of `fleet`'s class and uploads it inline through the API; returns its id. */
export async function uploadRelease(
  app: { inject: (o: object) => Promise<{ statusCode: number; body: string }> },
  headers: Record<string, string>,
  fleet: Fleet,
  sequenceNumber: number,
  payloads: readonly Buffer[],
  version = '1.0.0',
  /** Per payload, the file name it is uploaded under (e.g. `x.mender`, `x.swu`). */
  fileNames: readonly string[] = [],
): Promise<string> {
  const envelope = await signedEnvelope(fleet, fleet.key, sequenceNumber, payloads, version);
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/releases',
    headers: { ...headers, 'content-type': 'application/json' },
    payload: {
      deviceClassId: fleet.deviceClassId,
      envelope: Buffer.from(envelope).toString('base64'),
      payloads: payloads.map((p, i) => ({
        data: p.toString('base64'),
        ...(fileNames[i] !== undefined ? { fileName: fileNames[i] } : {}),
      })),
    },
  });
  if (res.statusCode !== 201)
    throw new Error(`release upload answered ${res.statusCode}: ${res.body}`);
  return (JSON.parse(res.body) as { id: string }).id;
}

/**
 * A release row and one action of it, written straight into the tables (no envelope, no
 * payloads): for tests about rows that merely point at a release and an action.
 */
export async function insertReleaseAndAction(
  db: Kysely<Database>,
  ids: {
    tenantId: string;
    deviceClassId: string;
    deviceId: string;
    releaseId: string;
    actionId: string;
  },
  action: { state: string; open: boolean },
): Promise<void> {
  const at = new Date().toISOString();
  await db
    .insertInto('releases')
    .values({
      id: ids.releaseId,
      tenant_id: ids.tenantId,
      device_class_id: ids.deviceClassId,
      version: '1.0.0',
      sequence_number: 1,
      manifest_digest: 'x',
      signer_kids: '[]',
      components: '[]',
      text: null,
      envelope: '',
      envelope_size: 0,
      created_at: at,
      created_by: null,
      deleted_at: null,
    })
    .execute();
  await db
    .insertInto('actions')
    .values({
      id: ids.actionId,
      tenant_id: ids.tenantId,
      device_id: ids.deviceId,
      release_id: ids.releaseId,
      state: action.state,
      cancel_requested: 0,
      download_only: 0,
      action_type: 'soft',
      force_after: null,
      recurring_window: null,
      maintenance_window: null,
      open_key: action.open ? ids.deviceId : null,
      revision: 1,
      created_at: at,
      created_by: null,
      updated_at: at,
    })
    .execute();
}

/** Hex component id of component `i` (`[h'0i']`). */
export function componentHex(i: number): string {
  return `8141${i.toString(16).padStart(2, '0')}`;
}

/** Everything a refused request must leave unchanged: row counts per table and the blob files. */
export async function snapshot(
  db: Kysely<Database>,
  blobsDir: string,
): Promise<Record<string, unknown>> {
  const tables = [
    'releases',
    'release_payloads',
    'upload_sessions',
    'actions',
    'action_events',
    'device_reports',
    'device_components',
    'devices',
    'trusted_keys',
  ] as const;
  const counts: Record<string, unknown> = {};
  for (const t of tables) {
    const row = await db
      .selectFrom(t)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    counts[t] = Number(row.n);
  }
  const actions = await db
    .selectFrom('actions')
    .select(['id', 'state', 'revision', 'cancel_requested'])
    .orderBy('id')
    .execute();
  return { counts, actions, blobs: await listFiles(blobsDir) };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}
