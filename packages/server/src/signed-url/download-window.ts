import type { DownloadWindow } from '../ports/download-links.js';

/** Longest validity of a SigV4 pre-signed URL (7 days): no direct link lives longer. */
export const MAX_DIRECT_LINK_SECONDS = 604_800;

/**
 * The window `nowMs` falls in, for windows of `ttlSeconds`: links signed at its start, valid
 * until the end of the next window — at least one and at most two TTLs, the same lifetime as the
 * service's own signed URLs (`SignedUrl.expiryFor`) — and never beyond 7 days.
 */
export function downloadWindow(ttlSeconds: number, nowMs: number): DownloadWindow {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1)
    throw new RangeError('ttlSeconds must be a positive integer');
  const start = Math.floor(nowMs / 1000 / ttlSeconds) * ttlSeconds;
  return {
    startMs: start * 1000,
    expiresAt: start + Math.min(2 * ttlSeconds, MAX_DIRECT_LINK_SECONDS),
  };
}
