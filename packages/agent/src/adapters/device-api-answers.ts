import { isActionType } from '@updraft/core';
import { AgentError } from '../errors.js';
import type { CheckInRequest, DeviceAction } from '../ports/transport.js';

/*
 * Shape checks of the service's answers, shared by every transport (HTTP, MQTT): each answer is
 * treated as hostile, so a check-in body is used only once it has the expected shape.
 */

/** The check-in report as sent: the service takes a SHA-256 or null (a factory image of unknown digest is null). */
export function wireCheckInReport(request: CheckInRequest): unknown {
  return {
    ...request,
    components: request.components.map((c) => ({
      ...c,
      digest: /^[0-9a-f]{64}$/.test(c.digest) ? c.digest : null,
    })),
  };
}

/** Parses a JSON answer; `AGENT_RESPONSE_INVALID` when it is not JSON. */
export function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new AgentError('AGENT_RESPONSE_INVALID', 'answer is not JSON', { cause });
  }
}

/**
 * The error of an answer with an unexpected status, whatever the transport: 401/403 →
 * `AGENT_AUTH_REJECTED` (the device's credentials, or a signed URL, refused), any other →
 * `AGENT_SERVER_ERROR`; the problem's `code` is kept when the body (first 16 KiB) is one.
 */
export function statusError(
  status: number,
  body: Uint8Array | null,
  extra: Record<string, unknown> = {},
): AgentError {
  let code: string | null = null;
  try {
    const problem = body === null ? null : parseJson(body.subarray(0, 16 * 1024));
    if (isRecord(problem) && typeof problem.code === 'string') code = problem.code.slice(0, 64);
  } catch {
    // The status alone is reported when the body is not a problem.
  }
  if (status === 401 || status === 403) {
    return new AgentError(
      'AGENT_AUTH_REJECTED',
      `update service refused the credentials (${status})`,
      { details: { status, code } },
    );
  }
  return new AgentError('AGENT_SERVER_ERROR', `update service answered ${status}`, {
    details: { status, code, ...extra },
  });
}

/** A plain JSON object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A check-in answer: poll interval and the open action (or null), action fields typed. */
export function isCheckInBody(
  v: unknown,
): v is { pollIntervalSeconds: number; action: DeviceAction | null } {
  if (!isRecord(v) || typeof v.pollIntervalSeconds !== 'number') return false;
  return v.action === null || isAction(v.action);
}

function isAction(v: unknown): v is DeviceAction {
  if (!isRecord(v) || typeof v.id !== 'string' || v.id.length > 200) return false;
  if (typeof v.envelopeUrl !== 'string' || typeof v.downloadOnly !== 'boolean') return false;
  if (typeof v.cancelRequested !== 'boolean' || !isRecord(v.release)) return false;
  if (typeof v.release.version !== 'string' || typeof v.release.sequenceNumber !== 'number') {
    return false;
  }
  const w = v.maintenanceWindow;
  if (w !== null && !(isRecord(w) && typeof w.start === 'string' && typeof w.end === 'string')) {
    return false;
  }
  // Newer fields, absent from older services: typed when present (the window's cron and zone are
  // checked where they are used, in InstallWait, and a bad one fails the action).
  if (v.type !== undefined && !isActionType(v.type)) return false;
  if (v.forceAfter != null && typeof v.forceAfter !== 'string') return false;
  const r = v.recurringWindow;
  if (
    r != null &&
    !(
      isRecord(r) &&
      typeof r.cron === 'string' &&
      typeof r.durationSeconds === 'number' &&
      typeof r.timeZone === 'string'
    )
  ) {
    return false;
  }
  if (!Array.isArray(v.payloads) || v.payloads.length > 64) return false;
  return v.payloads.every(
    (p) =>
      isRecord(p) &&
      typeof p.url === 'string' &&
      typeof p.digest === 'string' &&
      typeof p.size === 'number' &&
      Number.isSafeInteger(p.size) &&
      p.size >= 0,
  );
}
