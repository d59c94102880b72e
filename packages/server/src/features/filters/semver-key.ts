/**
 * A sortable text key for a semantic version, so SQL orders versions by semver precedence with a
 * plain string comparison on SQLite and PostgreSQL alike (stored in `device_components.version_key`
 * when a component is recorded, computed for literals when a filter is compiled).
 *
 * The key holds digits only. That keeps the comparison the same under any collation: PostgreSQL
 * compares text with the database's locale, where punctuation may be ignored and letters fold case,
 * but every locale orders digit strings digit by digit, as SQLite's binary order does.
 *
 * Layout (semver 2.0.0 §11): major, minor, patch as 10 digits each; then `2` for a release, or `1`
 * and the pre-release identifiers for a pre-release (so any pre-release sorts before its release).
 * Each identifier: numeric → `1` + 10 digits (numeric ones sort first, numerically); alphanumeric →
 * `2` + each character's code + 100 as 3 digits (ASCII order). Identifiers are separated by `0`,
 * which sorts below the first digit of any character code, so a shorter identifier list sorts
 * first. Build metadata is ignored. Undefined for anything that is not a semantic version, or has
 * a number above 9,999,999,999 (then filters treat the version as absent).
 */
export function semverKey(version: string): string | undefined {
  const m = SEMVER.exec(version);
  if (!m) return undefined;
  const [, major, minor, patch, pre] = m;
  const numbers = [major, minor, patch].map((n) => num(n ?? ''));
  if (numbers.some((n) => n === undefined)) return undefined;
  if (pre === undefined) return `${numbers.join('')}2`;
  const ids: string[] = [];
  for (const id of pre.split('.')) {
    if (/^[0-9]+$/.test(id)) {
      const n = num(id);
      if (n === undefined) return undefined;
      ids.push(`1${n}`);
    } else {
      ids.push(`2${[...id].map((c) => String(c.charCodeAt(0) + 100)).join('')}`);
    }
  }
  return `${numbers.join('')}1${ids.join('0')}`;
}

// semver.org's regular expression (numeric identifiers without leading zeros).
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

function num(digits: string): string | undefined {
  return digits.length > 10 ? undefined : digits.padStart(10, '0');
}
