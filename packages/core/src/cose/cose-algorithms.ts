/** COSE algorithm identifiers Updraft signs, verifies or MACs with (IANA "COSE Algorithms"). */
export const COSE_ALG = {
  /** ECDSA P-256 with SHA-256, raw r||s signature (the older SUIT examples' identifier). */
  ES256: -7,
  /** ECDSA using P-256 and SHA-256, fully specified (RFC 9864); same bytes as ES256. */
  ESP256: -9,
  /** EdDSA (Updraft signs Ed25519 with it). */
  EdDSA: -8,
  /** EdDSA with Ed25519, fully specified (RFC 9864). */
  Ed25519: -19,
  /** HMAC with SHA-256, 256-bit tag (COSE_Mac0). */
  HMAC256: 5,
} as const;

/** SUIT_Digest algorithm identifiers (COSE hash algorithms) that Updraft computes. */
export const COSE_HASH_ALG = { SHA256: -16, SHA384: -43, SHA512: -44 } as const;

/** node:crypto hash name of a COSE hash algorithm id, or undefined if unsupported. */
export function hashNameOf(alg: number): 'sha256' | 'sha384' | 'sha512' | undefined {
  switch (alg) {
    case COSE_HASH_ALG.SHA256:
      return 'sha256';
    case COSE_HASH_ALG.SHA384:
      return 'sha384';
    case COSE_HASH_ALG.SHA512:
      return 'sha512';
    default:
      return undefined;
  }
}

/** Key family a signature algorithm needs ('es256' = P-256), or undefined for unsupported algorithms. */
export function keyFamilyOfAlg(alg: number): 'es256' | 'ed25519' | undefined {
  if (alg === COSE_ALG.ES256 || alg === COSE_ALG.ESP256) return 'es256';
  if (alg === COSE_ALG.EdDSA || alg === COSE_ALG.Ed25519) return 'ed25519';
  return undefined;
}
