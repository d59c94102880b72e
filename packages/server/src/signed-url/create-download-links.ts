import { readFile } from 'node:fs/promises';
import { CloudFrontSignedLinks } from '../adapters/cloudfront/cloudfront-signed-links.js';
import { S3_KEYS } from '../adapters/s3/s3-client.js';
import { S3PresignedLinks } from '../adapters/s3/s3-presigned-links.js';
import type { ServerConfig } from '../config/config.js';
import type { ObjectStore } from '../ports/object-store.js';
import { DirectDownloadLinks } from './direct-download-links.js';

type LinkSettings = Pick<ServerConfig, 'blobs' | 's3' | 'downloads' | 'device'>;

/** True when `blobs` can sign GETs of its blobs (the S3 blob store can). */
export function canPresign(blobs: object): blobs is ObjectStore {
  return typeof (blobs as Partial<ObjectStore>).presignedGetUrl === 'function';
}

/**
 * The app's choice of download links (docs/deployment.md, "Direct downloads and CDN"):
 * - `blobs.store=fs`, or `downloads.direct=false`: none (`undefined`) — devices download through
 *   the service's own signed URLs, whose grant is checked on every request;
 * - `blobs.store=s3` with `downloads.direct`: pre-signed GETs on the object store, or, with
 *   `downloads.cdnBaseUrl`, CloudFront signed URLs on the CDN (key pair id + RSA key file).
 * `blobs` is the stored blob store (it signs the S3 URLs).
 */
export async function createDownloadLinks(
  config: LinkSettings,
  blobs: object,
  read: (path: string) => Promise<string> = (path) => readFile(path, 'utf8'),
): Promise<DirectDownloadLinks | undefined> {
  if (config.blobs.store !== 's3' || !config.downloads.direct) return undefined;
  const ttl = config.device.downloadUrlTtlSeconds;
  const { cdnBaseUrl, cdnKeyPairId, cdnPrivateKeyFile } = config.downloads;
  if (cdnBaseUrl !== '') {
    let privateKeyPem: string;
    try {
      privateKeyPem = await read(cdnPrivateKeyFile);
    } catch (cause) {
      throw new Error(`downloads.cdnPrivateKeyFile: cannot read ${cdnPrivateKeyFile}`, { cause });
    }
    if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(privateKeyPem))
      throw new Error('downloads.cdnPrivateKeyFile: not a PEM RSA private key');
    const prefix = config.s3.prefix;
    return new DirectDownloadLinks(
      new CloudFrontSignedLinks({
        baseUrl: cdnBaseUrl,
        keyPairId: cdnKeyPairId,
        privateKeyPem,
        keyOf: (digest) => S3_KEYS.blob(prefix, digest),
      }),
      ttl,
    );
  }
  if (!canPresign(blobs))
    throw new Error('downloads.direct: the blob store cannot pre-sign URLs (is blobs.store s3?)');
  return new DirectDownloadLinks(new S3PresignedLinks(blobs), ttl);
}
