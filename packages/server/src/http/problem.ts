import { isUpdraftError } from '@updraft/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SERVER_ERROR_STATUS, ServerError, type ServerErrorCode } from '../errors.js';

/** An RFC 9457 problem document as Updraft sends it. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly requestId: string;
  /** Field-level problems of a validation error. */
  readonly errors?: readonly { readonly path: string; readonly message: string }[];
  /** Where in a submitted expression (a target filter) the problem is. */
  readonly position?: { readonly offset: number; readonly line: number; readonly column: number };
  /** The current state of the resource an illegal transition was asked of (e.g. a campaign). */
  readonly state?: string;
  /** Why a credential or enrollment was refused (`details.reason`, a closed set per code). */
  readonly details?: { readonly reason: string };
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Sends `problem` as `application/problem+json`. */
export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).type('application/problem+json').send(problem);
}

/** Builds a problem for a code and message. */
export function problemOf(
  request: FastifyRequest,
  code: string,
  status: number,
  detail: string,
): Problem {
  return {
    type: `urn:updraft:error:${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    detail,
    requestId: request.id,
  };
}

// Fastify's own request errors, mapped to stable codes (their text is safe to show).
const FASTIFY_CODES: Record<string, ServerErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'HTTP_MALFORMED_BODY',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'HTTP_MALFORMED_BODY',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'HTTP_MALFORMED_BODY',
  FST_ERR_CTP_EMPTY_TYPE: 'HTTP_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'HTTP_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'HTTP_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'HTTP_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_CHARSET: 'HTTP_UNSUPPORTED_MEDIA_TYPE',
};

function statusOf(error: unknown): number | undefined {
  if (error instanceof ServerError) return error.status;
  const status =
    (error as { status?: unknown; statusCode?: unknown }).status ??
    (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : undefined;
}

/**
 * Renders every error as problem+json: exposable UpdraftErrors with their code and message,
 * validation errors as 400 with the failing fields, everything else as a generic 500 whose
 * details go only to the log.
 */
export function installProblemHandlers(
  app: FastifyInstance,
  /** Answers an unknown URL another way first (the dashboard's SPA fallback); true if it did. */
  notFoundFallback?: (request: FastifyRequest, reply: FastifyReply) => boolean,
): void {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    const fe = error as FastifyError;
    if (fe.validation) {
      const errors = fe.validation.map((v) => ({
        path: `${fe.validationContext ?? 'body'}${v.instancePath || ''}`,
        message: v.message ?? 'is invalid',
      }));
      return sendProblem(reply, {
        ...problemOf(
          request,
          'HTTP_VALIDATION_FAILED',
          400,
          errors.map((e) => `${e.path} ${e.message}`).join('; '),
        ),
        errors,
      });
    }
    if (isUpdraftError(error)) {
      const exposable = (error as { exposable?: unknown }).exposable === true;
      const status = statusOf(error);
      if (exposable && status !== undefined) {
        const retryAfter = error.details.retryAfterSeconds;
        // A 429 or 503 that says when to come back (RFC 9110 §10.2.3).
        if ((status === 429 || status === 503) && typeof retryAfter === 'number')
          reply.header('retry-after', retryAfter);
        if (status >= 500) request.log.error({ err: error }, 'request failed');
        const position = error.details.position as Problem['position'];
        const state = error.details.state;
        const reason = error.details.reason;
        return sendProblem(reply, {
          ...problemOf(request, error.code, status, error.message),
          ...(position ? { position } : {}),
          ...(typeof state === 'string' ? { state } : {}),
          ...(typeof reason === 'string' ? { details: { reason } } : {}),
        });
      }
    }
    const mapped = typeof fe.code === 'string' ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped)
      return sendProblem(
        reply,
        problemOf(request, mapped, SERVER_ERROR_STATUS[mapped], fe.message),
      );
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(
      reply,
      problemOf(request, 'HTTP_INTERNAL', 500, 'The server failed to handle this request.'),
    );
  });

  app.setNotFoundHandler((request, reply) =>
    notFoundFallback?.(request, reply)
      ? reply
      : sendProblem(
          reply,
          problemOf(
            request,
            'HTTP_ROUTE_NOT_FOUND',
            404,
            `No route ${request.method} ${request.url.split('?')[0]}`,
          ),
        ),
  );
}
