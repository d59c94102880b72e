import { createHash, timingSafeEqual, verify } from 'node:crypto';
import type { SimErrorCode } from './errors.js';
import {
  APP_BEHAVIOURS,
  APP_DESCRIPTOR_MAGIC,
  APP_DESCRIPTOR_SIZE,
  formatVersion,
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  type ImageInfo,
  MAX_KID_LENGTH,
  TLV_ENTRY_HEADER_SIZE,
  TLV_INFO_MAGIC,
  TLV_INFO_SIZE,
  TLV_PROT_INFO_MAGIC,
  TLV_TYPES,
  type TrustedImageKey,
} from './image-format.js';

/** Outcome of {@link verifyImage}: default-deny, `ok` only after every check passed. */
export type ImageVerdict =
  | { readonly ok: true; readonly info: ImageInfo }
  | { readonly ok: false; readonly code: SimErrorCode; readonly reason: string };

/** What the verifier needs. `read` must stay within [0, limit). */
export interface VerifyImageInput {
  readonly read: (offset: number, length: number) => Uint8Array;
  /** Size of the slot: nothing of the image may lie beyond it. */
  readonly limit: number;
  readonly trustedKeys: readonly TrustedImageKey[];
  /** The bootloader's stored security counter; an image below it is a rollback. */
  readonly minSecurityCounter?: number;
}

const fail = (code: SimErrorCode, reason: string): ImageVerdict => ({ ok: false, code, reason });

/**
 * Verifies an image in place, as the bootloader does on every boot: header bounds, TLV
 * structure, SHA-256 digest, key id among the trusted keys, signature, security counter.
 * Unknown protected TLVs are rejected (they could carry a constraint we do not enforce);
 * unknown unprotected TLVs are ignored, as MCUboot does.
 */
export function verifyImage(input: VerifyImageInput): ImageVerdict {
  const { read, limit } = input;
  if (limit < IMAGE_HEADER_SIZE) return fail('SIM_IMAGE_MALFORMED', 'slot smaller than a header');
  const header = read(0, IMAGE_HEADER_SIZE);
  const h = view(header);
  if (h.getUint32(0, true) !== IMAGE_MAGIC) return fail('SIM_IMAGE_MALFORMED', 'bad header magic');
  if (h.getUint16(8, true) !== IMAGE_HEADER_SIZE) {
    return fail('SIM_IMAGE_MALFORMED', 'unexpected header size');
  }
  const protSize = h.getUint16(10, true);
  const imgSize = h.getUint32(12, true);
  const protStart = IMAGE_HEADER_SIZE + imgSize;
  const unprotStart = protStart + protSize;
  if (imgSize < APP_DESCRIPTOR_SIZE || unprotStart + TLV_INFO_SIZE > limit) {
    return fail('SIM_IMAGE_MALFORMED', 'image does not fit its slot');
  }
  const prot = protSize === 0 ? new Uint8Array(0) : read(protStart, protSize);
  const protEntries = parseTlvArea(prot, TLV_PROT_INFO_MAGIC);
  if (protSize !== 0 && !protEntries) return fail('SIM_IMAGE_MALFORMED', 'bad protected TLVs');
  const unprotInfo = view(read(unprotStart, TLV_INFO_SIZE));
  const unprotSize = unprotInfo.getUint16(2, true);
  if (unprotInfo.getUint16(0, true) !== TLV_INFO_MAGIC || unprotStart + unprotSize > limit) {
    return fail('SIM_IMAGE_MALFORMED', 'bad TLV info');
  }
  const unprotEntries = parseTlvArea(read(unprotStart, unprotSize), TLV_INFO_MAGIC);
  if (!unprotEntries) return fail('SIM_IMAGE_MALFORMED', 'bad TLVs');

  let securityCounter: number | undefined;
  for (const [type, value] of protEntries ?? []) {
    if (type !== TLV_TYPES.SEC_CNT || value.length !== 4 || securityCounter !== undefined) {
      return fail('SIM_IMAGE_MALFORMED', `unexpected protected TLV 0x${type.toString(16)}`);
    }
    securityCounter = view(value).getUint32(0, true);
  }
  if (securityCounter === undefined) return fail('SIM_IMAGE_MALFORMED', 'no security counter');

  const single = (type: number) => {
    const found = unprotEntries.filter(([t]) => t === type);
    return found.length === 1 ? found[0]?.[1] : found.length === 0 ? undefined : null;
  };
  const expected = single(TLV_TYPES.SHA256);
  const kid = single(TLV_TYPES.KEYID);
  const edSig = single(TLV_TYPES.ED25519);
  const ecSig = single(TLV_TYPES.ECDSA_P256);
  if (expected?.length !== 32) return fail('SIM_IMAGE_MALFORMED', 'no SHA-256 TLV');
  if (!kid || kid.length === 0 || kid.length > MAX_KID_LENGTH) {
    return fail('SIM_IMAGE_MALFORMED', 'no key id TLV');
  }
  if (edSig === null || ecSig === null || (edSig === undefined) === (ecSig === undefined)) {
    return fail('SIM_IMAGE_MALFORMED', 'need exactly one signature TLV');
  }

  // Hash in bounded chunks: the body may be large and `read` is flash.
  const hash = createHash('sha256').update(header);
  const chunk = 4096;
  for (let at = IMAGE_HEADER_SIZE; at < protStart; at += chunk) {
    hash.update(read(at, Math.min(chunk, protStart - at)));
  }
  const digest = hash.update(prot).digest();
  if (!timingSafeEqual(digest, expected)) {
    return fail('SIM_IMAGE_DIGEST_MISMATCH', 'image digest does not match its SHA-256 TLV');
  }

  const key = input.trustedKeys.find((k) => equalBytes(k.kid, kid));
  if (!key) return fail('SIM_IMAGE_UNTRUSTED_KEY', 'no trusted key with this key id');
  const keyType = key.publicKey.asymmetricKeyType;
  let signatureOk = false;
  try {
    if (edSig && keyType === 'ed25519') signatureOk = verify(null, digest, key.publicKey, edSig);
    if (ecSig && keyType === 'ec') {
      signatureOk = verify(
        'sha256',
        digest,
        { key: key.publicKey, dsaEncoding: 'ieee-p1363' },
        ecSig,
      );
    }
  } catch {
    signatureOk = false;
  }
  if (!signatureOk) return fail('SIM_IMAGE_SIGNATURE_INVALID', 'signature does not verify');

  if (securityCounter < (input.minSecurityCounter ?? 0)) {
    return fail(
      'SIM_IMAGE_ROLLBACK',
      `security counter ${securityCounter} is below the stored one`,
    );
  }
  const descriptor = view(read(IMAGE_HEADER_SIZE, APP_DESCRIPTOR_SIZE));
  const behaviour = APP_BEHAVIOURS[descriptor.getUint8(4)];
  if (descriptor.getUint32(0, true) !== APP_DESCRIPTOR_MAGIC || behaviour === undefined) {
    // Signed but not a simulator application: nothing we can run.
    return fail('SIM_IMAGE_MALFORMED', 'no application descriptor');
  }
  const version = {
    major: h.getUint8(20),
    minor: h.getUint8(21),
    revision: h.getUint16(22, true),
    build: h.getUint32(24, true),
  };
  return {
    ok: true,
    info: {
      version,
      versionString: formatVersion(version),
      securityCounter,
      behaviour,
      loadAddr: h.getUint32(4, true),
      flags: h.getUint32(16, true),
      totalSize: unprotStart + unprotSize,
      digestHex: digest.toString('hex'),
      kidHex: Buffer.from(kid).toString('hex'),
    },
  };
}

function parseTlvArea(area: Uint8Array, magic: number): [number, Uint8Array][] | undefined {
  if (area.length < TLV_INFO_SIZE) return undefined;
  const v = view(area);
  if (v.getUint16(0, true) !== magic || v.getUint16(2, true) !== area.length) return undefined;
  const entries: [number, Uint8Array][] = [];
  let at = TLV_INFO_SIZE;
  while (at < area.length) {
    if (at + TLV_ENTRY_HEADER_SIZE > area.length) return undefined;
    const type = v.getUint16(at, true);
    const len = v.getUint16(at + 2, true);
    const end = at + TLV_ENTRY_HEADER_SIZE + len;
    if (end > area.length) return undefined;
    entries.push([type, area.subarray(at + TLV_ENTRY_HEADER_SIZE, end)]);
    at = end;
  }
  return entries;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
