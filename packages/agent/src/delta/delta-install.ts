import { createHash } from 'node:crypto';
import { type DeltaOffer, isUpdraftError } from '@updraft/core';
import { apply, DeltaError, type PatchHeader } from '@updraft/delta';
import { AgentError } from '../errors.js';
import { SlotWriter } from '../install/slot-writer.js';
import type { Clock } from '../ports/clock.js';
import type { Slot } from '../ports/slot.js';
import type { Transport } from '../ports/transport.js';

const HEX64 = /^[0-9a-f]{64}$/;
const MAX_URL = 4096;

/** The payload's delta offer when it is well-formed, else null (network input: hostile). */
export function deltaOfferOf(payload: unknown): DeltaOffer | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const d = (payload as { delta?: unknown }).delta;
  if (typeof d !== 'object' || d === null) return null;
  const o = d as Record<string, unknown>;
  if (typeof o.baseDigest !== 'string' || !HEX64.test(o.baseDigest)) return null;
  if (typeof o.patchDigest !== 'string' || !HEX64.test(o.patchDigest)) return null;
  if (typeof o.url !== 'string' || o.url.length === 0 || o.url.length > MAX_URL) return null;
  const size = o.patchSize;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) return null;
  return { baseDigest: o.baseDigest, patchDigest: o.patchDigest, patchSize: size, url: o.url };
}

/** What {@link installFromDelta} needs. */
export interface DeltaJob {
  readonly transport: Transport;
  /** Runs the stall timer (real time). */
  readonly clock: Clock;
  readonly stallTimeoutMs: number;
  /** The running image's slot: read by random access, never written. */
  readonly active: Slot;
  /** The slot the new image goes to, written strictly in order. */
  readonly target: Slot;
  /** The new image, from the signed manifest. */
  readonly image: { readonly size: number; readonly digest: string };
  readonly offer: DeltaOffer;
  /** Reconnections (Range resume) of the patch download within one apply. */
  readonly maxReconnects?: number;
  /** Progress: slot bytes written so far (not a resume point: a cut restarts the apply). */
  readonly onSector?: (written: number) => Promise<void>;
}

const TRANSIENT = new Set([
  'AGENT_NETWORK_ERROR',
  'AGENT_SERVER_UNREACHABLE',
  'AGENT_SERVER_ERROR',
  'AGENT_DOWNLOAD_STALLED',
  'AGENT_PAYLOAD_TRUNCATED',
]);

/**
 * Rebuilds the new image from the active slot and a patch streamed from the service, writing it
 * into the target slot. The patch header must name the offered base and the signed image (size
 * and SHA-256), apply checks the active image's SHA-256 before any output, and the written image's
 * digest is compared with the signed one at the end. A dropped connection resumes with Range from
 * the last patch byte consumed; a power cut restarts the whole apply (the decoder keeps no state
 * outside memory, and the active slot is only read).
 *
 * Rejects with a `DELTA_*` error (wrong base, corrupt or truncated patch, wrong result) or the
 * download's `AGENT_*` error; the caller then falls back to the full payload.
 */
export async function installFromDelta(job: DeltaJob): Promise<void> {
  const { image, offer, active } = job;
  if (offer.patchSize >= image.size) {
    throw new DeltaError('DELTA_INPUT_TOO_LARGE', 'the patch is not smaller than the image', {
      details: { patchSize: offer.patchSize, imageSize: image.size },
    });
  }
  const readOld = async (offset: number, length: number): Promise<Uint8Array> => {
    if (offset < 0 || offset + length > active.size)
      throw new DeltaError('DELTA_OLD_READ_FAILED', 'the base image is larger than the slot');
    return active.read(offset, length);
  };
  const checkHeader = (h: PatchHeader) => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    if (h.kind !== 'delta' || hex(h.oldSha256) !== offer.baseDigest)
      throw new DeltaError('DELTA_BASE_MISMATCH', 'the patch is not for the offered base');
    if (h.newSize !== image.size || hex(h.newSha256) !== image.digest)
      throw new DeltaError('DELTA_RESULT_MISMATCH', 'the patch does not build the signed image');
  };
  const hash = createHash('sha256');
  let written = 0;
  const writer = new SlotWriter(job.target, 0, async (end) => {
    await job.onSector?.(end);
  });
  const source = patchStream(job);
  for await (const chunk of apply(readOld, source, {
    maxNewSize: Math.min(image.size, job.target.size),
    onHeader: checkHeader,
  })) {
    hash.update(chunk);
    await writer.push(chunk);
    written += chunk.length;
  }
  await writer.finish();
  if (written !== image.size || hash.digest('hex') !== image.digest) {
    throw new DeltaError('DELTA_RESULT_MISMATCH', 'the rebuilt image does not match its digest');
  }
}

/** The patch bytes, reconnecting with `Range` from the last byte consumed on a transient error. */
async function* patchStream(job: DeltaJob): AsyncGenerator<Uint8Array, void, undefined> {
  const { offer } = job;
  const maxReconnects = job.maxReconnects ?? 3;
  let offset = 0;
  let reconnects = 0;
  while (offset < offer.patchSize) {
    const abort = new AbortController();
    try {
      const response = await stall(
        job.transport.openPayload(offer.url, offset, abort.signal),
        job,
        abort,
      );
      let at = response.start;
      const iterator = response.body[Symbol.asyncIterator]();
      for (;;) {
        const next = await stall(iterator.next(), job, abort);
        if (next.done) break;
        let chunk = next.value;
        const from = at;
        at += chunk.length;
        if (at > offer.patchSize) {
          await iterator.return?.();
          throw new AgentError(
            'AGENT_PAYLOAD_TOO_LONG',
            'the server sent more patch bytes than offered',
          );
        }
        // A server that ignored Range resent bytes we already consumed.
        if (at <= offset) continue;
        if (from < offset) chunk = chunk.subarray(offset - from);
        offset = at;
        reconnects = 0;
        yield chunk;
      }
      if (offset < offer.patchSize)
        throw new AgentError('AGENT_PAYLOAD_TRUNCATED', 'the patch download ended early');
    } catch (error) {
      if (!isUpdraftError(error) || !TRANSIENT.has(error.code) || reconnects >= maxReconnects)
        throw error;
      reconnects += 1;
    } finally {
      abort.abort();
    }
  }
}

// One network step raced against the stall timer; on timeout the request is aborted.
async function stall<T>(step: Promise<T>, job: DeltaJob, abort: AbortController): Promise<T> {
  const timer = new AbortController();
  const timedOut = job.clock.sleep(job.stallTimeoutMs, timer.signal).then(
    () => {
      abort.abort();
      throw new AgentError('AGENT_DOWNLOAD_STALLED', 'no patch bytes within the stall timeout');
    },
    () => new Promise<never>(() => undefined),
  );
  try {
    return await Promise.race([step, timedOut]);
  } finally {
    timer.abort();
  }
}
