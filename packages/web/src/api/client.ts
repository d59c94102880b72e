import createClient from 'openapi-fetch';
import type { paths } from './openapi';

/** Marks every request as the dashboard's: the service refuses unsafe cookie requests without it (CSRF). */
export const CLIENT_HEADER = { 'x-updraft-client': 'web' } as const;

/** The typed API client: same-origin cookie session, never a token in script reach. */
export const api = createClient<paths>({
  // Absolute same-origin: Request() needs an absolute URL outside the browser (component tests).
  baseUrl: globalThis.location?.origin ?? '',
  credentials: 'same-origin',
  headers: CLIENT_HEADER,
  // Looked up per call (not captured at load), so tests can stand in for the network.
  fetch: (request) => globalThis.fetch(request),
});

/** A problem+json answer (docs/errors.md): a stable code, words, and for filters a position. */
export interface Problem {
  readonly status: number;
  readonly code: string;
  readonly title?: string;
  readonly detail?: string;
  readonly position?: { readonly offset: number; readonly line: number; readonly column: number };
  readonly errors?: readonly { readonly path: string; readonly message: string }[];
}

/** Thrown by {@link unwrap} for every non-2xx answer. */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.code}: ${problem.detail ?? problem.title ?? 'request failed'}`);
    this.name = 'ApiError';
  }
}

/** Normalises any error body (problem+json or not) into a {@link Problem}. */
export function toProblem(status: number, body: unknown): Problem {
  if (body && typeof body === 'object' && typeof (body as Problem).code === 'string') {
    return { ...(body as Problem), status };
  }
  return {
    status,
    code: `HTTP_${status}`,
    detail: 'The service answered without a problem document.',
  };
}

/** The data of an openapi-fetch answer, or an {@link ApiError} with the problem. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok || data === undefined) throw new ApiError(toProblem(response.status, error));
  return data;
}
