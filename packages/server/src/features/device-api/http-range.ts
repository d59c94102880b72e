/** A single, satisfiable byte range: `start`..`end` inclusive, as in `Content-Range`. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Parses an HTTP `Range` header (RFC 9110 §14) for a representation of `size` bytes.
 *
 * - `null`: no usable range; serve the whole body with 200. That covers a missing header, a
 *   unit other than `bytes`, bad syntax and several ranges (a server may ignore Range, and we
 *   only serve single ranges so a resuming client never gets multipart bodies).
 * - `'unsatisfiable'`: answer 416 with `Content-Range: bytes * /size`.
 * - a {@link ByteRange}: answer 206 with that slice.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | null {
  if (header === undefined || header.length > 200) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (m === null) return null;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return null;
  // Digit strings longer than 15 cannot be exact JS integers; treat them as "beyond the end".
  const toInt = (s: string): number => (s.length > 15 ? Number.MAX_SAFE_INTEGER : Number(s));
  if (first === '') {
    const suffix = toInt(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = toInt(first);
  const end = last === '' ? size - 1 : Math.min(toInt(last), size - 1);
  if (last !== '' && toInt(last) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
