import { createHash, sign } from 'node:crypto';
import { BugError } from '@updraft/core';
import { SimError } from './errors.js';
import { firmwareBody } from './firmware-body.js';
import {
  APP_BEHAVIOURS,
  APP_DESCRIPTOR_MAGIC,
  APP_DESCRIPTOR_SIZE,
  type AppBehaviour,
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  type ImageSigningKey,
  type ImageVersion,
  MAX_KID_LENGTH,
  TLV_ENTRY_HEADER_SIZE,
  TLV_INFO_MAGIC,
  TLV_INFO_SIZE,
  TLV_PROT_INFO_MAGIC,
  TLV_TYPES,
} from './image-format.js';

/** Inputs of {@link buildImage}. */
export interface BuildImageOptions {
  /** "1.2.3" / "1.2.3+4" or the structured form. */
  readonly version: string | ImageVersion;
  /** Goes into the SEC_CNT TLV: the bootloader's anti-rollback counter. */
  readonly sequenceNumber: number;
  readonly behaviour: AppBehaviour;
  /** Body size in bytes (at least the 8-byte app descriptor). */
  readonly size: number;
  readonly key: ImageSigningKey;
  readonly loadAddr?: number;
  readonly flags?: number;
  /**
   * The product the image is a build of (default 1): builds of one seed share most of their
   * body, like successive releases of one firmware, so deltas between them are small.
   */
  readonly seed?: number;
}

/** Parses "major.minor.revision[+build]". */
export function parseImageVersion(text: string): ImageVersion {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,5})(?:\+(\d{1,10}))?$/.exec(text);
  const v = m && {
    major: Number(m[1]),
    minor: Number(m[2]),
    revision: Number(m[3]),
    build: Number(m[4] ?? 0),
  };
  if (!v || v.major > 0xff || v.minor > 0xff || v.revision > 0xffff || v.build > 0xffffffff) {
    throw new SimError('SIM_CONFIG_INVALID', `not an image version: ${JSON.stringify(text)}`);
  }
  return v;
}

/**
 * Builds a signed test firmware image whose body scripts the application's behaviour; the rest
 * of the body is firmware-like bytes (see {@link firmwareBody}).
 *
 * @example
 * const image = buildImage({ version: '1.1.0', sequenceNumber: 2, behaviour: 'healthy', size: 4096, key });
 */
export function buildImage(options: BuildImageOptions): Uint8Array {
  const version =
    typeof options.version === 'string' ? parseImageVersion(options.version) : options.version;
  const { sequenceNumber, behaviour, size, key } = options;
  if (!Number.isInteger(size) || size < APP_DESCRIPTOR_SIZE || size > 0x1000_0000) {
    throw new SimError('SIM_CONFIG_INVALID', `image body size ${size} out of range`);
  }
  if (!Number.isInteger(sequenceNumber) || sequenceNumber < 0 || sequenceNumber > 0xffffffff) {
    throw new SimError('SIM_CONFIG_INVALID', `sequence number ${sequenceNumber} out of range`);
  }
  if (key.kid.length === 0 || key.kid.length > MAX_KID_LENGTH) {
    throw new SimError('SIM_CONFIG_INVALID', `key id length ${key.kid.length} out of range`);
  }
  const behaviourCode = APP_BEHAVIOURS.indexOf(behaviour);
  if (behaviourCode < 0) throw new SimError('SIM_CONFIG_INVALID', `unknown behaviour ${behaviour}`);

  const protectedSize = TLV_INFO_SIZE + TLV_ENTRY_HEADER_SIZE + 4;
  const header = new Uint8Array(IMAGE_HEADER_SIZE);
  const h = new DataView(header.buffer);
  h.setUint32(0, IMAGE_MAGIC, true);
  h.setUint32(4, options.loadAddr ?? 0, true);
  h.setUint16(8, IMAGE_HEADER_SIZE, true);
  h.setUint16(10, protectedSize, true);
  h.setUint32(12, size, true);
  h.setUint32(16, options.flags ?? 0, true);
  h.setUint8(20, version.major);
  h.setUint8(21, version.minor);
  h.setUint16(22, version.revision, true);
  h.setUint32(24, version.build, true);

  // Firmware-like bytes: the product's base image with this build's few changes.
  const body = firmwareBody(size, {
    seed: options.seed ?? 1,
    variant: `${version.major}.${version.minor}.${version.revision}+${version.build}/${sequenceNumber}`,
  });
  const b = new DataView(body.buffer);
  b.setUint32(0, APP_DESCRIPTOR_MAGIC, true);
  b.setUint8(4, behaviourCode);
  b.setUint8(5, 0);
  b.setUint16(6, 0, true);

  const prot = new Uint8Array(protectedSize);
  const p = new DataView(prot.buffer);
  p.setUint16(0, TLV_PROT_INFO_MAGIC, true);
  p.setUint16(2, protectedSize, true);
  p.setUint16(4, TLV_TYPES.SEC_CNT, true);
  p.setUint16(6, 4, true);
  p.setUint32(8, sequenceNumber, true);

  const digest = createHash('sha256').update(header).update(body).update(prot).digest();
  const signature = signDigest(key, digest);
  const sigType = key.privateKey.asymmetricKeyType === 'ed25519' ? 'ED25519' : 'ECDSA_P256';
  const entries: [number, Uint8Array][] = [
    [TLV_TYPES.SHA256, digest],
    [TLV_TYPES.KEYID, key.kid],
    [TLV_TYPES[sigType], signature],
  ];
  const unprotSize =
    TLV_INFO_SIZE + entries.reduce((n, [, v]) => n + TLV_ENTRY_HEADER_SIZE + v.length, 0);
  const unprot = new Uint8Array(unprotSize);
  const u = new DataView(unprot.buffer);
  u.setUint16(0, TLV_INFO_MAGIC, true);
  u.setUint16(2, unprotSize, true);
  let at = TLV_INFO_SIZE;
  for (const [type, value] of entries) {
    u.setUint16(at, type, true);
    u.setUint16(at + 2, value.length, true);
    unprot.set(value, at + TLV_ENTRY_HEADER_SIZE);
    at += TLV_ENTRY_HEADER_SIZE + value.length;
  }

  const out = new Uint8Array(header.length + body.length + prot.length + unprot.length);
  out.set(header, 0);
  out.set(body, header.length);
  out.set(prot, header.length + body.length);
  out.set(unprot, header.length + body.length + prot.length);
  return out;
}

// Ed25519 signs the 32-byte digest directly; ECDSA P-256 signs it with SHA-256, raw r||s.
function signDigest(key: ImageSigningKey, digest: Uint8Array): Uint8Array {
  const type = key.privateKey.asymmetricKeyType;
  if (type === 'ed25519') return new Uint8Array(sign(null, digest, key.privateKey));
  if (type === 'ec' && key.privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return new Uint8Array(
      sign('sha256', digest, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }),
    );
  }
  throw new BugError(`unsupported image signing key type ${type}`);
}
