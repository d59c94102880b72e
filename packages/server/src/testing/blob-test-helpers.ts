// Small helpers shared by the blob-store and upload-staging contract suites and the adapters'
// own tests: the bytes they feed in and the error codes they expect out.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ServerError } from '../errors.js';

/** The lowercase hex SHA-256 of `data` (a blob's digest). */
export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** `data` as a stream of `size`-byte chunks (the last one shorter). */
export function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

/**
 * The `code` of the ServerError `promise` rejects with; `undefined` when it resolves, and a
 * `not a ServerError: …` text (which no expected code equals) for any other rejection.
 */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error instanceof ServerError ? error.code : `not a ServerError: ${String(error)}`;
  }
}
