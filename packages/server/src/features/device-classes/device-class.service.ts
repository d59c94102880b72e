import { classIdFromName, formatUuid, parseUuid, vendorIdFromDomain } from '@updraft/core';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import type { ActionService, RevocationOutcome } from '../actions/action.service.js';
import type { ChangeContext } from '../releases/release.service.js';
import {
  addTrustedKey,
  createDeviceClass,
  type DeviceClassView,
  findConflictingClass,
  getDeviceClass,
  getTrustedKey,
  listDeviceClasses,
  listTrustedKeys,
  revokeTrustedKey,
  type TrustedKeyView,
} from './device-class.repository.js';
import { type PublicKeyFormat, parsePublicKey } from './parse-public-key.js';

/** A new class: ids as UUIDs, or derived from the vendor's domain and the model's name. */
export interface NewDeviceClass {
  readonly name: string;
  readonly vendorId?: string | undefined;
  readonly classId?: string | undefined;
  readonly vendorName?: string | undefined;
  readonly modelName?: string | undefined;
}

/** A key's revocation and the open actions it canceled. */
export interface KeyRevocation extends RevocationOutcome {
  readonly key: TrustedKeyView;
}

/**
 * Device classes and their trusted signing keys. The changing calls run inside the caller's
 * transaction (the route's audited one), so the change and its audit entry commit together;
 * revoking a key also cancels, in that transaction, every open action of a release it signed.
 */
export class DeviceClassService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly actions: Pick<ActionService, 'cancelSignedBy' | 'announceClosed'>,
    private readonly now: () => Date,
  ) {}

  /** The class's vendor-id and class-id (RFC 4122 text) from what the caller gave. */
  resolveIds(input: NewDeviceClass): { vendorId: string; classId: string } {
    const vendorId = input.vendorId
      ? parseUuid(input.vendorId)
      : input.vendorName
        ? vendorIdFromDomain(input.vendorName)
        : undefined;
    if (!vendorId) throw new ServerError('RESOURCE_INVALID', 'give vendorId or vendorName');
    const classId = input.classId
      ? parseUuid(input.classId)
      : input.modelName
        ? classIdFromName(vendorId, input.modelName)
        : undefined;
    if (!classId) throw new ServerError('RESOURCE_INVALID', 'give classId or modelName');
    return { vendorId: formatUuid(vendorId), classId: formatUuid(classId) };
  }

  /** Creates a class; `RESOURCE_CONFLICT` when its name or its id pair is taken. */
  async create(
    trx: Transaction<Database>,
    tenantId: string,
    input: NewDeviceClass,
  ): Promise<DeviceClassView> {
    const ids = this.resolveIds(input);
    const conflict = await findConflictingClass(
      trx,
      tenantId,
      input.name,
      ids.vendorId,
      ids.classId,
    );
    if (conflict)
      throw new ServerError(
        'RESOURCE_CONFLICT',
        `device class ${conflict.name} has this name or these ids`,
      );
    return createDeviceClass(
      trx,
      tenantId,
      {
        name: input.name,
        vendorName: input.vendorName ?? null,
        modelName: input.modelName ?? null,
        ...ids,
      },
      this.now().toISOString(),
    );
  }

  list(tenantId: string): Promise<DeviceClassView[]> {
    return listDeviceClasses(this.db, tenantId);
  }

  /** The class, or `RESOURCE_NOT_FOUND`. */
  async get(tenantId: string, id: string): Promise<DeviceClassView> {
    const found = await getDeviceClass(this.db, tenantId, id);
    if (!found) throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${id}`);
    return found;
  }

  /** All keys of the class (revoked ones too). */
  async keys(tenantId: string, classId: string): Promise<TrustedKeyView[]> {
    await this.get(tenantId, classId);
    return listTrustedKeys(this.db, tenantId, classId);
  }

  /** Trusts a public key for the class; a kid seen before (even revoked) is a conflict. */
  async addKey(
    trx: Transaction<Database>,
    ctx: ChangeContext,
    classId: string,
    given: { format: PublicKeyFormat; key: string },
  ): Promise<TrustedKeyView> {
    const cls = await getDeviceClass(trx, ctx.tenantId, classId);
    if (!cls) throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${classId}`);
    const parsed = parsePublicKey(given.format, given.key);
    const existing = await listTrustedKeys(trx, ctx.tenantId, cls.id);
    if (existing.some((k) => k.kid === parsed.kid)) {
      throw new ServerError(
        'RESOURCE_CONFLICT',
        `key ${parsed.kid} is already recorded for this class (revoked keys stay revoked)`,
      );
    }
    return addTrustedKey(
      trx,
      ctx.tenantId,
      { deviceClassId: cls.id, ...parsed, source: given.key, createdBy: ctx.actorId },
      this.now().toISOString(),
    );
  }

  /**
   * Revokes a key and, in the same transaction, cancels every open action whose release it
   * signed (each with its event and audit entry). Call {@link announce} after the commit.
   */
  async revokeKey(
    trx: Transaction<Database>,
    ctx: ChangeContext,
    classId: string,
    keyId: string,
    reason: string | null,
  ): Promise<KeyRevocation> {
    const key = await getTrustedKey(trx, ctx.tenantId, classId, keyId);
    if (!key) throw new ServerError('RESOURCE_NOT_FOUND', `no key ${keyId} in class ${classId}`);
    if (key.revokedAt)
      throw new ServerError('RESOURCE_CONFLICT', `key ${keyId} was revoked at ${key.revokedAt}`);
    const done = await revokeTrustedKey(
      trx,
      ctx.tenantId,
      classId,
      keyId,
      ctx.actorId,
      reason,
      this.now().toISOString(),
    );
    if (!done) throw new ServerError('RESOURCE_CONFLICT', `key ${keyId} is already revoked`);
    const outcome = await this.actions.cancelSignedBy(trx, ctx, classId, key.kid);
    const revoked = await getTrustedKey(trx, ctx.tenantId, classId, keyId);
    return { key: revoked ?? key, ...outcome };
  }

  /** After the revocation committed: the devices' sessions see their actions closed. */
  announce(tenantId: string, revocation: KeyRevocation): void {
    this.actions.announceClosed(tenantId, revocation.deviceIds);
  }
}
