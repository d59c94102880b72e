import { createHash } from 'node:crypto';
import { CoreError } from '@updraft/core';
import { AgentError } from '../errors.js';
import type { PlannedComponent } from '../journal/journal.js';
import type { Clock } from '../ports/clock.js';
import type { Slot } from '../ports/slot.js';
import type { Transport } from '../ports/transport.js';
import type { PayloadDecipher } from './envelope-verifier.js';
import { hashSlot } from './slot-digest.js';
import { SlotWriter, sectorFloor } from './slot-writer.js';

/** What {@link downloadComponent} needs. */
export interface DownloadJob {
  readonly transport: Transport;
  /** Runs the stall timer (real time, whatever the agent's own clock is). */
  readonly clock: Clock;
  readonly slot: Slot;
  /** Mutated: `written` advances at sector checkpoints, `complete` at the end. */
  readonly component: PlannedComponent;
  readonly url: string;
  /** Bytes to download, from the signed manifest (never the server's word). */
  readonly payloadSize: number;
  /** A fresh decipher when the payload is encrypted (decryption restarts at byte 0). */
  readonly decipher: PayloadDecipher | null;
  readonly stallTimeoutMs: number;
  /** Runs after each written sector; the agent saves a checkpoint from time to time. */
  readonly onSector: (written: number) => Promise<void>;
}

/**
 * Downloads one payload into its slot: Range resume from the last checkpoint, a stall timeout on
 * every read (slow retrieval), a hard stop at the declared size (endless data), streaming
 * decryption and SHA-256 over the image, aligned sector writes. Resolves only when the whole image
 * is written and its digest equals the signed one.
 */
export async function downloadComponent(job: DownloadJob): Promise<void> {
  const { component, slot } = job;
  // An encrypted stream cannot be resumed mid-way (AEAD state), so it starts over.
  const start = job.decipher ? 0 : sectorFloor(slot, Math.min(component.written, component.size));
  const hash = await hashSlot(slot, start, createHash('sha256'));
  const writer = new SlotWriter(slot, start, async (end) => {
    component.written = end;
    await job.onSector(end);
  });
  const abort = new AbortController();
  const watchdog = new StallWatchdog(job.clock, job.stallTimeoutMs, abort);
  let produced = start;
  let iterator: AsyncIterator<Uint8Array> | undefined;
  let drained = false;
  try {
    const response = await watchdog.guard(job.transport.openPayload(job.url, start, abort.signal));
    // A server that ignores Range sends from 0: skip what we already have.
    let received = response.start;
    iterator = response.body[Symbol.asyncIterator]();
    for (;;) {
      const next = await watchdog.guard(iterator.next());
      if (next.done) {
        drained = true;
        break;
      }
      let chunk = next.value;
      if (received + chunk.length > job.payloadSize) {
        await iterator.return?.();
        throw new AgentError(
          'AGENT_PAYLOAD_TOO_LONG',
          'the server sent more bytes than the manifest declares',
          { details: { declared: job.payloadSize } },
        );
      }
      const skip = Math.max(0, start - received);
      received += chunk.length;
      if (skip >= chunk.length) continue;
      if (skip > 0) chunk = chunk.subarray(skip);
      const plain = job.decipher ? await job.decipher.update(chunk) : chunk;
      produced = await put(plain, produced, component.size, hash, writer);
    }
    if (received < job.payloadSize) {
      throw new AgentError('AGENT_PAYLOAD_TRUNCATED', 'the payload ended early', {
        details: { received, declared: job.payloadSize },
      });
    }
    if (job.decipher) {
      produced = await put(await job.decipher.final(), produced, component.size, hash, writer);
    }
  } finally {
    watchdog.stop();
    // Release an abandoned body before aborting: a response destroyed by the abort while nobody
    // iterates it would emit an 'error' that no one listens to (an uncaught exception).
    if (iterator && !drained) await iterator.return?.()?.catch(() => undefined);
    abort.abort();
  }
  if (produced !== component.size) {
    throw new CoreError('MANIFEST_DIGEST_MISMATCH', 'the decrypted image has the wrong size', {
      details: { expected: component.size, actual: produced },
    });
  }
  await writer.finish();
  const digest = hash.digest('hex');
  if (digest !== component.digest) {
    throw new CoreError('MANIFEST_DIGEST_MISMATCH', 'the payload does not match its digest', {
      details: { component: component.id },
    });
  }
  component.written = component.size;
  component.complete = true;
}

async function put(
  plain: Uint8Array,
  produced: number,
  size: number,
  hash: ReturnType<typeof createHash>,
  writer: SlotWriter,
): Promise<number> {
  if (plain.length === 0) return produced;
  if (produced + plain.length > size) {
    throw new CoreError('MANIFEST_DIGEST_MISMATCH', 'the decrypted image is longer than declared', {
      details: { expected: size },
    });
  }
  hash.update(plain);
  await writer.push(plain);
  return produced + plain.length;
}

/**
 * One stall timer per download (not one per chunk): it fires when no network step completed for
 * `timeoutMs`, aborts the request, and turns whatever the aborted step throws into
 * `AGENT_DOWNLOAD_STALLED`.
 */
class StallWatchdog {
  readonly #stop = new AbortController();
  readonly #abort: AbortController;
  #last: number;
  #stalled = false;
  // Settles the step in flight when the timer fires; per step, so no long-lived promise keeps
  // references to the chunks of finished steps.
  #onStall: (() => void) | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    abort: AbortController,
  ) {
    this.#abort = abort;
    this.#last = clock.now();
    this.#watch().then(
      () => {
        this.#stalled = true;
        abort.abort();
        this.#onStall?.();
      },
      () => {},
    );
  }

  async #watch(): Promise<void> {
    let wait = this.timeoutMs;
    for (;;) {
      await this.clock.sleep(wait, this.#stop.signal);
      const idle = this.clock.now() - this.#last;
      if (idle >= this.timeoutMs - 1) return;
      wait = this.timeoutMs - idle;
    }
  }

  /** Awaits one network step; progress resets the timer. */
  async guard<T>(step: Promise<T>): Promise<T> {
    const stalled = () =>
      new AgentError('AGENT_DOWNLOAD_STALLED', 'no payload bytes within the stall timeout', {
        details: { timeoutMs: this.timeoutMs },
      });
    if (this.#stalled) throw stalled();
    const timeout = new Promise<never>((_, reject) => {
      this.#onStall = () => reject(stalled());
    });
    // The step may reject after losing the race (aborted request): nothing else waits on it.
    step.catch(() => {});
    try {
      const value = await Promise.race([step, timeout]);
      this.#last = this.clock.now();
      return value;
    } catch (cause) {
      if (!this.#stalled) throw cause;
      throw stalled();
    } finally {
      this.#onStall = null;
    }
  }

  stop(): void {
    this.#stop.abort();
    void this.#abort;
  }
}
