import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ServerError } from '../../errors.js';

/** SHA-256 (and the legacy SHA-1/MD5 that compatible device APIs ask for) of a whole payload. */
export interface PayloadDigests {
  readonly size: number;
  readonly sha256: string;
  readonly sha1: string;
  readonly md5: string;
}

/** Hashes `bytes` in one streaming pass; `UPLOAD_INCOMPLETE` unless it holds exactly `size`. */
export async function digestsOf(bytes: Readable, size: number): Promise<PayloadDigests> {
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  const md5 = createHash('md5');
  let seen = 0;
  for await (const chunk of bytes) {
    const buf = chunk as Buffer;
    sha256.update(buf);
    sha1.update(buf);
    md5.update(buf);
    seen += buf.length;
  }
  if (seen !== size)
    throw new ServerError('UPLOAD_INCOMPLETE', `upload holds ${seen} of ${size} bytes`);
  return { size, sha256: sha256.digest('hex'), sha1: sha1.digest('hex'), md5: md5.digest('hex') };
}
