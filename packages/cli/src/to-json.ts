/**
 * Converts a result to plain JSON: byte arrays become lowercase hex, bigints decimal strings,
 * Maps objects, so every command's `--json` output has the same conventions.
 */
export function toJsonValue(value: unknown, depth = 0): unknown {
  if (depth > 64) return '[too deep]';
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) out[String(k)] = toJsonValue(v, depth + 1);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => toJsonValue(v, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) out[k] = toJsonValue(v, depth + 1);
    }
    return out;
  }
  return value;
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
