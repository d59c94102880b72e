import { COSE_ALG } from '@updraft/core';

const NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(COSE_ALG).map(([name, id]) => [id, name === 'HMAC256' ? 'HMAC 256/256' : name]),
);

/** Human name of a COSE algorithm id (`-7` → `ES256`), or the number for unknown ones. */
export function coseAlgName(alg: number): string {
  return NAMES.get(alg) ?? String(alg);
}
