import type { KeyObject } from 'node:crypto';

/**
 * The simulator's firmware image format, shaped like MCUboot's: a fixed header, the body, a
 * protected TLV area (covered by the digest) and an unprotected TLV area (digest, key id,
 * signature). All integers little-endian.
 *
 *   0  magic u32 | 4 loadAddr u32 | 8 hdrSize u16 | 10 protectedTlvSize u16 | 12 imgSize u32
 *   16 flags u32 | 20 version major u8, minor u8, revision u16, build u32 | 28 reserved u32
 */
export const IMAGE_MAGIC = 0x31445055; // "UPD1"
export const IMAGE_HEADER_SIZE = 32;
export const TLV_INFO_MAGIC = 0x6907;
export const TLV_PROT_INFO_MAGIC = 0x6908;
export const TLV_INFO_SIZE = 4;
export const TLV_ENTRY_HEADER_SIZE = 4;
/** Upper bound on a key id; longer ones are malformed. */
export const MAX_KID_LENGTH = 32;

/** TLV types. Protected: SEC_CNT. Unprotected: SHA256, KEYID, signatures. */
export const TLV_TYPES = {
  KEYID: 0x01,
  SHA256: 0x10,
  ECDSA_P256: 0x22,
  ED25519: 0x24,
  SEC_CNT: 0x50,
} as const;

/** What the application in an image does when booted: the scripted behaviour under test. */
export const APP_BEHAVIOURS = ['healthy', 'crash-on-boot', 'fails-health-check', 'hangs'] as const;
export type AppBehaviour = (typeof APP_BEHAVIOURS)[number];

/** True when `value` is an {@link AppBehaviour}. */
export function isAppBehaviour(value: unknown): value is AppBehaviour {
  return typeof value === 'string' && (APP_BEHAVIOURS as readonly string[]).includes(value);
}

/** The body starts with this descriptor: "APP!" + behaviour code + 3 reserved bytes. */
export const APP_DESCRIPTOR_MAGIC = 0x21505041; // "APP!"
export const APP_DESCRIPTOR_SIZE = 8;

/** Image version, MCUboot's `image_version`. */
export interface ImageVersion {
  readonly major: number;
  readonly minor: number;
  readonly revision: number;
  readonly build: number;
}

/** Signature algorithms the bootloader accepts. */
export const IMAGE_SIGNATURE_ALGS = ['ed25519', 'es256'] as const;
export type ImageSignatureAlg = (typeof IMAGE_SIGNATURE_ALGS)[number];

/** A private key on the build side, with the key id the bootloader looks it up by. */
export interface ImageSigningKey {
  readonly kid: Uint8Array;
  readonly privateKey: KeyObject;
}

/** A public key the bootloader trusts. */
export interface TrustedImageKey {
  readonly kid: Uint8Array;
  readonly publicKey: KeyObject;
}

/** Facts about a verified (or at least parsed) image. */
export interface ImageInfo {
  readonly version: ImageVersion;
  readonly versionString: string;
  readonly securityCounter: number;
  readonly behaviour: AppBehaviour;
  readonly loadAddr: number;
  readonly flags: number;
  /** Header + body + TLVs: the bytes the agent writes. */
  readonly totalSize: number;
  /** SHA-256 over header, body and protected TLVs, hex. */
  readonly digestHex: string;
  readonly kidHex: string;
}

/** "1.2.3+4" (build omitted when 0). */
export function formatVersion(v: ImageVersion): string {
  const base = `${v.major}.${v.minor}.${v.revision}`;
  return v.build === 0 ? base : `${base}+${v.build}`;
}
