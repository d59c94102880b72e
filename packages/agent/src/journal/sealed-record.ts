import { createHash } from 'node:crypto';

/**
 * The framing of the agent's small persisted records (journal, rollback floor): a magic line, the
 * SHA-256 of the body, then the body, so a damaged or foreign record is detected, never misread.
 */
export function sealRecord(magic: string, body: string): Uint8Array {
  const sum = createHash('sha256').update(body).digest('hex');
  return new Uint8Array(Buffer.from(`${magic}\n${sum}\n${body}`, 'utf8'));
}

/** The body of a sealed record, or the reason it is not one (`bad header`, `checksum mismatch`). */
export function openSealedRecord(
  magic: string,
  bytes: Uint8Array,
): { readonly body: string } | { readonly problem: string } {
  const text = Buffer.from(bytes).toString('utf8');
  const first = text.indexOf('\n');
  const second = text.indexOf('\n', first + 1);
  if (first < 0 || second < 0 || text.slice(0, first) !== magic) return { problem: 'bad header' };
  const body = text.slice(second + 1);
  if (createHash('sha256').update(body).digest('hex') !== text.slice(first + 1, second)) {
    return { problem: 'checksum mismatch' };
  }
  return { body };
}
