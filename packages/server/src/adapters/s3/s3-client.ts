import { S3Client } from '@aws-sdk/client-s3';
import type { ServerConfig } from '../../config/config.js';

/** The `s3` section of the configuration (what every S3 adapter is built from). */
export type S3Settings = ServerConfig['s3'];

/**
 * One S3 client for every adapter of an app (blob store, upload staging, pre-signed downloads),
 * so they share its connection pool. Credentials come from the settings when given, else from the
 * AWS SDK's default chain (environment, shared files, instance or pod role).
 */
export function createS3Client(settings: S3Settings): S3Client {
  // The SDK warns once per process that its releases after January 2027 need Node 22; AWS's
  // documented switch (aws/aws-sdk-js-v3#7983) silences it. The SDK version is locked, Node 20
  // is supported here; an operator's own value of the variable wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint !== '' ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.accessKeyId !== ''
      ? {
          credentials: {
            accessKeyId: settings.accessKeyId,
            secretAccessKey: settings.secretAccessKey,
          },
        }
      : {}),
    // A bucket that does not answer must fail a request, not hang it (readiness, uploads).
    requestHandler: {
      connectionTimeout: settings.timeoutMs,
      requestTimeout: settings.timeoutMs,
    },
    // The SDK's own retries (3 attempts, backoff) cover a transient error; we add none.
    maxAttempts: 3,
  });
}

/**
 * Where each kind of object lives in the bucket, under the configured prefix. One place, so the
 * blob store, the staging of uploads and the direct-download signer agree on keys.
 * - `blobs/<sha256>`: a stored payload or patch (content-addressed, the plaintext's digest);
 * - `uploads/<session id>/…`: the chunks of a resumable upload session (any replica continues it);
 * - `tmp/…`: objects being written (never read by devices).
 */
export const S3_KEYS = {
  blob: (prefix: string, digest: string) => `${prefix}blobs/${digest}`,
  uploadSession: (prefix: string, sessionId: string) => `${prefix}uploads/${sessionId}/`,
  temporary: (prefix: string, name: string) => `${prefix}tmp/${name}`,
} as const;
