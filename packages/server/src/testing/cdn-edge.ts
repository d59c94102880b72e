import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { verifyCloudFrontUrl } from './cloudfront-verifier.js';

/** What a {@link startCdnEdge} saw, one entry per request. */
export interface EdgeRequest {
  readonly path: string;
  readonly range: string | null;
  readonly status: number;
}

/** A small CDN edge for tests: CloudFront's signed-URL check in front of a bucket. */
export interface TestCdnEdge {
  /** `http://127.0.0.1:<port>`: the `downloads.cdnBaseUrl`. */
  readonly url: string;
  readonly requests: EdgeRequest[];
  close(): Promise<void>;
}

/**
 * Starts an "edge" that does what a CloudFront behavior with a trusted key group does: it answers
 * 403 unless the URL carries a canned-policy signature that the PUBLIC key verifies and that has
 * not expired, then fetches the object (path = object key) from the bucket with its own
 * credentials — CloudFront's origin access — passing a `Range` on (206 with Content-Range).
 */
export async function startCdnEdge(options: {
  readonly publicKeyPem: string;
  readonly keyPairId: string;
  readonly s3: {
    endpoint: string;
    region: string;
    bucket: string;
    accessKeyId: string;
    secretAccessKey: string;
  };
}): Promise<TestCdnEdge> {
  const { s3 } = options;
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const requests: EdgeRequest[] = [];
  let url = '';
  const server: Server = createServer((req, res) => {
    const range = typeof req.headers.range === 'string' ? req.headers.range : null;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const done = (status: number) => requests.push({ path, range, status });
    const refusal = verifyCloudFrontUrl(
      `${url}${req.url ?? '/'}`,
      options.publicKeyPem,
      options.keyPairId,
      Date.now(),
    );
    if (req.method !== 'GET' || refusal !== null) {
      done(403);
      return void res.writeHead(403, { 'content-type': 'text/plain' }).end(refusal ?? 'method');
    }
    client
      .send(
        new GetObjectCommand({
          Bucket: s3.bucket,
          Key: decodeURIComponent(path.slice(1)),
          ...(range !== null ? { Range: range } : {}),
        }),
      )
      .then(
        (object) => {
          const status = object.ContentRange ? 206 : 200;
          done(status);
          res.writeHead(status, {
            'content-length': String(object.ContentLength ?? 0),
            'accept-ranges': 'bytes',
            ...(object.ContentRange ? { 'content-range': object.ContentRange } : {}),
          });
          (object.Body as Readable).pipe(res);
        },
        (error: { $metadata?: { httpStatusCode?: number } }) => {
          const status = error.$metadata?.httpStatusCode ?? 502;
          done(status);
          res.writeHead(status).end();
        },
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      client.destroy();
    },
  };
}
