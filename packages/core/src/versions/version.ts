import { CoreError } from '../errors.js';

/** A semantic version (semver 2.0.0). Build metadata is kept but never compared. */
export interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly prerelease: readonly (string | number)[];
  readonly build: readonly string[];
}

const SEMVER =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

function invalid(text: string, reason: string): CoreError {
  return new CoreError(
    'VERSION_INVALID',
    `invalid version ${JSON.stringify(text.slice(0, 64))}: ${reason}`,
    {
      details: { version: text.slice(0, 64), reason },
    },
  );
}

/** Parses `1.2.3`, `v1.2.3`, `1.2.3-rc.1+build.5`. Throws VERSION_INVALID otherwise. */
export function parseVersion(text: string): SemVer {
  const m = SEMVER.exec(text);
  if (!m) throw invalid(text, 'not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])');
  const num = (s: string) => {
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw invalid(text, 'number too large');
    return n;
  };
  return {
    major: num(m[1]!),
    minor: num(m[2]!),
    patch: num(m[3]!),
    prerelease: m[4] ? m[4].split('.').map((p) => (/^\d+$/.test(p) ? num(p) : p)) : [],
    build: m[5] ? m[5].split('.') : [],
  };
}

/** The canonical text of a version (no leading v). */
export function formatVersion(v: SemVer): string {
  return `${v.major}.${v.minor}.${v.patch}${v.prerelease.length ? `-${v.prerelease.join('.')}` : ''}${v.build.length ? `+${v.build.join('.')}` : ''}`;
}

/** semver precedence: negative if a < b, 0 if equal (build ignored), positive if a > b. */
export function compareVersions(a: SemVer | string, b: SemVer | string): number {
  const x = typeof a === 'string' ? parseVersion(a) : a;
  const y = typeof b === 'string' ? parseVersion(b) : b;
  const d = x.major - y.major || x.minor - y.minor || x.patch - y.patch;
  if (d !== 0) return Math.sign(d);
  if (x.prerelease.length === 0 || y.prerelease.length === 0)
    return y.prerelease.length - x.prerelease.length === 0 ? 0 : x.prerelease.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.max(x.prerelease.length, y.prerelease.length); i++) {
    const p = x.prerelease[i];
    const q = y.prerelease[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    if (typeof p === 'number' && typeof q === 'number') return Math.sign(p - q);
    if (typeof p === 'number') return -1;
    if (typeof q === 'number') return 1;
    return p < q ? -1 : 1;
  }
  return 0;
}

/** Limits of the version → sequence-number mapping (docs/versions.md). */
export const SEQUENCE_MAPPING = {
  majorLimit: 900, // keeps every sequence number below 2^53
  minorLimit: 100_000,
  patchLimit: 100_000,
  /** Pre-release slots per patch version: 0…998 for pre-releases, 999 for the release. */
  prereleaseSlots: 1000,
} as const;

/**
 * The SUIT sequence number (anti-rollback counter) of a version:
 * `((major·100 000 + minor)·100 000 + patch)·1 000 + r` where r = 999 for a release and
 * r = N for a pre-release whose last identifier is the number N < 999 (`1.4.0-rc.2` → r = 2).
 * It grows with semver order (pre-release numbers must keep growing across labels: alpha.1,
 * beta.2, rc.3), reads in decimal (1.2.3 → 1|00002|00003|999) and stays below 2^53.
 * Versions outside the limits, and pre-releases without a trailing number, throw VERSION_INVALID:
 * give those an explicit sequence number.
 *
 * @example
 * sequenceNumberFromVersion('1.2.3')      // 10000200003999
 * sequenceNumberFromVersion('1.2.3-rc.1') // 10000200003001
 */
export function sequenceNumberFromVersion(version: string | SemVer): number {
  const text = typeof version === 'string' ? version : formatVersion(version);
  const v = typeof version === 'string' ? parseVersion(version) : version;
  const L = SEQUENCE_MAPPING;
  if (v.major >= L.majorLimit || v.minor >= L.minorLimit || v.patch >= L.patchLimit) {
    throw invalid(
      text,
      `major < ${L.majorLimit}, minor and patch < ${L.minorLimit} are required for an automatic sequence number`,
    );
  }
  let r = L.prereleaseSlots - 1;
  if (v.prerelease.length > 0) {
    const last = v.prerelease[v.prerelease.length - 1];
    if (typeof last !== 'number' || last >= L.prereleaseSlots - 1) {
      throw invalid(
        text,
        'a pre-release needs a trailing number below 999 (e.g. -rc.1) for an automatic sequence number',
      );
    }
    if (
      v.prerelease.length > 2 ||
      (v.prerelease.length === 2 && typeof v.prerelease[0] !== 'string')
    ) {
      throw invalid(
        text,
        'only pre-releases of the form -<label>.<n> or -<n> map to a sequence number',
      );
    }
    r = last;
  }
  return ((v.major * L.minorLimit + v.minor) * L.patchLimit + v.patch) * L.prereleaseSlots + r;
}

/** The version (without pre-release label) a sequence number made by {@link sequenceNumberFromVersion} stands for. */
export function versionFromSequenceNumber(sequenceNumber: number): {
  major: number;
  minor: number;
  patch: number;
  release: boolean;
  prereleaseNumber?: number;
} {
  const L = SEQUENCE_MAPPING;
  const r = sequenceNumber % L.prereleaseSlots;
  let rest = Math.floor(sequenceNumber / L.prereleaseSlots);
  const patch = rest % L.patchLimit;
  rest = Math.floor(rest / L.patchLimit);
  const minor = rest % L.minorLimit;
  const major = Math.floor(rest / L.minorLimit);
  return r === L.prereleaseSlots - 1
    ? { major, minor, patch, release: true }
    : { major, minor, patch, release: false, prereleaseNumber: r };
}
