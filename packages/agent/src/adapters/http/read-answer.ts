import type { IncomingMessage } from 'node:http';
import { AgentError } from '../../errors.js';

/** Most a Retry-After may hold a device back (a hostile or broken service asking for a year). */
const MAX_RETRY_AFTER_SECONDS = 24 * 3600;

/**
 * Seconds a 429/503/202 answer asks to wait, capped; null when absent or bad. RFC 9110 §10.2.3:
 * delay-seconds or an HTTP-date; anything else is ignored (plain backoff then).
 */
export function parseRetryAfter(res: IncomingMessage): number | null {
  const value = res.headers['retry-after'];
  if (typeof value !== 'string' || value.length > 64) return null;
  let seconds: number;
  if (/^\d+$/.test(value.trim())) seconds = Number(value.trim());
  else {
    const at = Date.parse(value);
    if (Number.isNaN(at)) return null;
    seconds = Math.ceil((at - Date.now()) / 1000);
  }
  return Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_SECONDS);
}

/** Reads a whole answer body, refusing more than `max` bytes. */
export async function readLimited(
  res: IncomingMessage,
  max: number,
  code: 'AGENT_RESPONSE_INVALID' | 'AGENT_ENVELOPE_TOO_LARGE',
): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > max) {
        res.destroy();
        throw new AgentError(code, 'answer over its size limit', { details: { limit: max } });
      }
      chunks.push(chunk);
    }
  } catch (cause) {
    if (cause instanceof AgentError) throw cause;
    throw new AgentError('AGENT_NETWORK_ERROR', 'connection lost while reading', { cause });
  }
  return new Uint8Array(Buffer.concat(chunks));
}
