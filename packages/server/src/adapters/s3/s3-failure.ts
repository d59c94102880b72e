import { ServerError } from '../../errors.js';

/** What the SDK puts on its errors (service exceptions and network failures alike). */
interface SdkErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

/** Seconds a client is told to wait before retrying a request the object store failed. */
const RETRY_AFTER_SECONDS = 5;

/** True when S3 answered that the object (or, for HEAD, possibly the bucket) is not there. */
export function isS3NotFound(error: unknown): boolean {
  const shape = (error ?? {}) as SdkErrorShape;
  return (
    shape.name === 'NoSuchKey' ||
    shape.name === 'NotFound' ||
    (shape.$metadata?.httpStatusCode === 404 && shape.name !== 'NoSuchBucket')
  );
}

/**
 * The store-level error for anything the bucket did not do: network errors, timeouts, 5xx,
 * AccessDenied, a missing bucket. `BLOB_STORE_UNAVAILABLE` (503, Retry-After), the SDK error kept
 * as `cause` for the log. The message names only the operation and the error's name or code:
 * never the SDK's own text (it can carry the endpoint, bucket and key) nor any credential.
 * A {@link ServerError} (a digest mismatch found while streaming) passes through unchanged.
 */
export function s3Failure(operation: string, error: unknown): ServerError {
  if (error instanceof ServerError) return error;
  const shape = (error ?? {}) as SdkErrorShape;
  const status = shape.$metadata?.httpStatusCode;
  const label =
    typeof shape.code === 'string'
      ? shape.code
      : typeof shape.name === 'string'
        ? shape.name
        : 'Error';
  const reason = /^[A-Za-z0-9_.:-]{1,64}$/.test(label) ? label : 'Error';
  return new ServerError(
    'BLOB_STORE_UNAVAILABLE',
    `the object store failed ${operation} (${reason}${typeof status === 'number' ? `, HTTP ${status}` : ''}); retry later`,
    {
      cause: error,
      // 503 answers are private by default; this one says only what failed, so clients see it.
      exposable: true,
      details: { operation, reason, retryAfterSeconds: RETRY_AFTER_SECONDS },
    },
  );
}
