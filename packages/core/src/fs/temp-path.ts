import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/**
 * A fresh hidden name beside `path` (`.name.<random>.tmp`): in the same directory, hence on the
 * same file system, so the final rename is atomic.
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}
