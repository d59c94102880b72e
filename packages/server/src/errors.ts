import { UpdraftError } from '@updraft/core';

/**
 * Codes raised by `@updraft/server`. Keep in sync with docs/errors.md (checked by a test) and with
 * {@link SERVER_ERROR_STATUS}. Feature engineers append their codes here (array + status row).
 */
export const SERVER_ERROR_CODES = [
  'CONFIG_INVALID',
  'LISTEN_ADDRESS_UNAVAILABLE',
  'HTTP_VALIDATION_FAILED',
  'HTTP_MALFORMED_BODY',
  'HTTP_BODY_TOO_LARGE',
  'HTTP_UNSUPPORTED_MEDIA_TYPE',
  'HTTP_ROUTE_NOT_FOUND',
  'HTTP_RATE_LIMITED',
  'HTTP_INTERNAL',
  'AUTH_UNAUTHENTICATED',
  'AUTH_FORBIDDEN',
  'AUTH_INVALID_CREDENTIALS',
  'AUTH_PASSWORD_CHANGE_REQUIRED',
  'RESOURCE_NOT_FOUND',
  'RESOURCE_CONFLICT',
  'RESOURCE_INVALID',
  'BLOB_NOT_FOUND',
  'BLOB_DIGEST_MISMATCH',
  'BLOB_SIZE_MISMATCH',
  'BLOB_CORRUPT',
  'BLOB_RANGE_INVALID',
  // releases, actions, uploads, device API (server-releases engineer)
  'RELEASE_ENVELOPE_INVALID',
  'RELEASE_SIGNATURE_INVALID',
  'RELEASE_KEY_UNTRUSTED',
  'RELEASE_PAYLOAD_MISMATCH',
  'RELEASE_PAYLOAD_MISSING',
  'RELEASE_EXISTS',
  'RELEASE_IN_USE',
  'RELEASE_KEY_REVOKED',
  'ACTION_TRANSITION_INVALID',
  'ACTION_ALREADY_OPEN',
  'ACTION_CLASS_MISMATCH',
  'ACTION_SEQUENCE_NOT_NEWER',
  'ACTION_TYPE_INVALID',
  'ACTION_WINDOW_INVALID',
  'UPLOAD_OFFSET_MISMATCH',
  'UPLOAD_TOO_LARGE',
  'UPLOAD_INCOMPLETE',
  'UPLOAD_QUOTA_EXCEEDED',
  'DEVICE_COMPONENT_DUPLICATE',
  'DEVICE_URL_INVALID',
  'DEVICE_URL_EXPIRED',
  'DEVICE_URL_REVOKED',
  'DEVICE_RANGE_NOT_SATISFIABLE',
  // target filters and groups
  'FILTER_INVALID',
  'FILTER_UNSUPPORTED',
  // webhooks
  'WEBHOOK_URL_INVALID',
  'WEBHOOK_TARGET_PRIVATE',
  // campaigns
  'CAMPAIGN_INVALID',
  'CAMPAIGN_STATE_INVALID',
  'CAMPAIGN_APPROVAL_REQUIRED',
  'CAMPAIGN_SELF_APPROVAL',
  'CAMPAIGN_CHANGED',
  'CAMPAIGN_STREAM_LIMIT',
] as const;
export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number];

/** True when `value` is one of {@link SERVER_ERROR_CODES}. */
export function isServerErrorCode(value: unknown): value is ServerErrorCode {
  return typeof value === 'string' && (SERVER_ERROR_CODES as readonly string[]).includes(value);
}

/** HTTP status for each code; a `Record` so a code without a status does not compile. */
export const SERVER_ERROR_STATUS: Readonly<Record<ServerErrorCode, number>> = {
  CONFIG_INVALID: 500,
  LISTEN_ADDRESS_UNAVAILABLE: 500,
  HTTP_VALIDATION_FAILED: 400,
  HTTP_MALFORMED_BODY: 400,
  HTTP_BODY_TOO_LARGE: 413,
  HTTP_UNSUPPORTED_MEDIA_TYPE: 415,
  HTTP_ROUTE_NOT_FOUND: 404,
  HTTP_RATE_LIMITED: 429,
  HTTP_INTERNAL: 500,
  AUTH_UNAUTHENTICATED: 401,
  AUTH_FORBIDDEN: 403,
  AUTH_INVALID_CREDENTIALS: 401,
  AUTH_PASSWORD_CHANGE_REQUIRED: 403,
  RESOURCE_NOT_FOUND: 404,
  RESOURCE_CONFLICT: 409,
  RESOURCE_INVALID: 422,
  BLOB_NOT_FOUND: 404,
  BLOB_DIGEST_MISMATCH: 422,
  BLOB_SIZE_MISMATCH: 422,
  BLOB_CORRUPT: 500,
  BLOB_RANGE_INVALID: 416,
  // releases, actions, uploads, device API
  RELEASE_ENVELOPE_INVALID: 422,
  RELEASE_SIGNATURE_INVALID: 422,
  RELEASE_KEY_UNTRUSTED: 422,
  RELEASE_PAYLOAD_MISMATCH: 422,
  RELEASE_PAYLOAD_MISSING: 422,
  RELEASE_EXISTS: 409,
  RELEASE_IN_USE: 409,
  RELEASE_KEY_REVOKED: 409,
  ACTION_TRANSITION_INVALID: 409,
  ACTION_ALREADY_OPEN: 409,
  ACTION_CLASS_MISMATCH: 409,
  ACTION_SEQUENCE_NOT_NEWER: 409,
  ACTION_TYPE_INVALID: 422,
  ACTION_WINDOW_INVALID: 422,
  UPLOAD_OFFSET_MISMATCH: 409,
  UPLOAD_TOO_LARGE: 413,
  UPLOAD_INCOMPLETE: 409,
  UPLOAD_QUOTA_EXCEEDED: 409,
  DEVICE_COMPONENT_DUPLICATE: 422,
  DEVICE_URL_INVALID: 403,
  DEVICE_URL_EXPIRED: 403,
  DEVICE_URL_REVOKED: 403,
  DEVICE_RANGE_NOT_SATISFIABLE: 416,
  FILTER_INVALID: 400,
  FILTER_UNSUPPORTED: 422,
  // webhooks
  WEBHOOK_URL_INVALID: 422,
  WEBHOOK_TARGET_PRIVATE: 422,
  // campaigns
  CAMPAIGN_INVALID: 422,
  CAMPAIGN_STATE_INVALID: 409,
  CAMPAIGN_APPROVAL_REQUIRED: 409,
  CAMPAIGN_SELF_APPROVAL: 403,
  CAMPAIGN_CHANGED: 409,
  CAMPAIGN_STREAM_LIMIT: 429,
};

/**
 * Error raised by `@updraft/server`. `exposable` errors are rendered to clients as problem+json
 * with their code and message; others become a generic 500 (message logged, never sent).
 */
export class ServerError extends UpdraftError<ServerErrorCode> {
  readonly status: number;
  readonly exposable: boolean;

  constructor(
    code: ServerErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; exposable?: boolean } = {},
  ) {
    super(code, message, options);
    this.status = SERVER_ERROR_STATUS[code];
    // Server-side faults (5xx) stay private unless a caller explicitly says otherwise.
    this.exposable = options.exposable ?? this.status < 500;
  }
}
