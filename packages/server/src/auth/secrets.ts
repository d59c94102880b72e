import { hash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** Token kinds; the prefix lets a log reader (and the rate limiter) tell them apart. */
export const TOKEN_KINDS = ['api', 'session', 'device'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** A fresh random id with a type prefix, e.g. `dev_3k…`. Sortable by nothing; never a secret. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/** A new bearer secret (256 bits). Shown to its owner once; only {@link hashToken} is stored. */
export function newToken(kind: TokenKind): string {
  return `updraft_${kind}_${randomBytes(32).toString('base64url')}`;
}

/** SHA-256 hex of a token. Enough for 256-bit random secrets (no dictionary to attack). */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

// scrypt cost: N=2^15, r=8, p=1 (≈32 MiB, tens of ms): OWASP's minimum for interactive logins.
const SCRYPT = { N: 32_768, r: 8, p: 1, keyLength: 32, maxmem: 64 * 1024 * 1024 } as const;

function scryptAsync(
  password: string,
  salt: Buffer,
  N: number,
  r: number,
  p: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, SCRYPT.keyLength, { N, r, p, maxmem: SCRYPT.maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** Hashes a password as `scrypt$N$r$p$salt$hash` (salt and hash base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return [
    'scrypt',
    SCRYPT.N,
    SCRYPT.r,
    SCRYPT.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

/** Checks a password against {@link hashPassword}'s output in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const expected = Buffer.from(parts[5] as string, 'base64url');
  const actual = await scryptAsync(password, Buffer.from(parts[4] as string, 'base64url'), N, r, p);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A random password for the first admin: 24 base64url characters (144 bits). */
export function newPassword(): string {
  return randomBytes(18).toString('base64url');
}
