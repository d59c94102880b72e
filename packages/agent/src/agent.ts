import { randomUUID } from 'node:crypto';
import { BugError, isUpdraftError, type UpdraftError } from '@updraft/core';
import { type AgentOptions, DEFAULT_AGENT_OPTIONS } from './agent-options.js';
import { AgentError } from './errors.js';
import {
  type ActionRecord,
  decodeJournal,
  encodeJournal,
  initialJournal,
  type Journal,
} from './journal/journal.js';
import { RollbackFloor } from './journal/rollback-floor.js';
import type { AgentEvent, AgentState } from './machine/agent-states.js';
import type { AgentDeps, HandlerContext, Handlers } from './machine/handler-context.js';
import { HANDLERS } from './machine/handlers.js';
import { findTransition } from './machine/transitions.js';
import type { Logger } from './ports/logger.js';
import type { Random } from './ports/random.js';
import type { FeedbackStatus, InstalledComponent } from './ports/transport.js';

/** How a run ended. */
export type RunResult =
  | {
      readonly halted: 'idle';
      /** Why the last check-in failed (service unreachable, token refused, …); absent when it worked. */
      readonly checkInError?: UpdraftError;
    }
  | { readonly halted: 'reboot' }
  | { readonly halted: 'stopped' };

const OUTBOX_MAX = 64;

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** `Math.random` and `crypto.randomUUID`, for real devices. */
export const systemRandom: Random = { next: () => Math.random(), uuid: () => randomUUID() };

/**
 * The update agent: runs the transition table over the ports.
 *
 * @example
 * const agent = new Agent(deps, { initialComponents: [{ id: '00', version: '1.0.0', sequenceNumber: 1, digest }] });
 * await agent.run({ until: 'idle' }); // one poll (and the update it brings, up to a reboot)
 */
export class Agent {
  readonly #deps: AgentDeps;
  readonly #options: AgentOptions;
  readonly #handlers: Handlers;
  readonly #log: Logger;
  /** The idle wait under way, which {@link wake} ends. */
  #waiting: AbortController | undefined;
  /** A wake that came while no wait was under way: the next one ends at once. */
  #wakePending = false;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    deps: AgentDeps,
    options: Partial<AgentOptions> & Pick<AgentOptions, 'initialComponents'>,
    handlers: Handlers = HANDLERS,
  ) {
    this.#deps = deps;
    this.#options = { ...DEFAULT_AGENT_OPTIONS, ...options };
    this.#handlers = handlers;
    this.#log = deps.logger ?? SILENT;
  }

  /**
   * Ends the current wait between polls so the agent checks in now (a push notice said something
   * waits). Several calls within `debounceMs` make one check-in. Changes no state by itself: the
   * check-in answer decides, as always.
   */
  wake(debounceMs = 100): void {
    if (this.#wakeTimer !== undefined) return;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      if (this.#waiting !== undefined) this.#waiting.abort();
      // Busy (e.g. in a check-in that may have read the state just before the change): the
      // next wait ends at once, so the change is not missed until the next poll.
      else this.#wakePending = true;
    }, debounceMs);
  }

  /** Reads the journal (a fresh one when none or corrupt). Changes nothing. */
  async loadJournal(): Promise<Journal> {
    return (await this.#readJournal(null)).journal;
  }

  async #readJournal(
    floor: readonly InstalledComponent[] | null,
  ): Promise<{ journal: Journal; readable: boolean }> {
    // Without a journal the device runs what the rollback floor last kept, or its factory image.
    const fresh = () => initialJournal(liftTo(this.#options.initialComponents, floor ?? []));
    const bytes = await this.#deps.stateStore.load();
    if (bytes === null) return { journal: fresh(), readable: false };
    try {
      return { journal: decodeJournal(bytes), readable: true };
    } catch (error) {
      if (!isUpdraftError(error)) throw error;
      // Safe: without a journal nothing gets confirmed, so a trial image is reverted by the bootloader.
      this.#log.error({ code: error.code }, 'journal unreadable, starting over');
      return { journal: fresh(), readable: false };
    }
  }

  /**
   * Reads the rollback floor and the journal at the start of a run. A corrupt floor, or a missing
   * one while the journal shows installed updates, refuses the start (`AGENT_ROLLBACK_FLOOR_*`):
   * starting over would let a compromised service install an older image.
   */
  async #open(): Promise<{ journal: Journal; floor: RollbackFloor | null }> {
    const store = this.#deps.rollbackFloor;
    if (store === undefined) {
      const { journal } = await this.#readJournal(null);
      await this.#measure(journal);
      return { journal, floor: null };
    }
    const floor = new RollbackFloor(store);
    let record = await floor.load();
    if (record !== null) record = await floor.settle(record, await this.#deps.bootControl.status());
    const { journal, readable } = await this.#readJournal(record?.components ?? null);
    if (record === null) {
      if (readable && updatedSince(journal.installed, this.#options.initialComponents)) {
        throw new AgentError(
          'AGENT_ROLLBACK_FLOOR_MISSING',
          'the anti-rollback record is missing but the journal shows installed updates',
          { details: { installed: journal.installed.map((c) => [c.id, c.sequenceNumber]) } },
        );
      }
      await this.#measure(journal);
      await floor.raise(journal.installed);
    } else {
      // The floor wins over a journal that is older than it (restored, or reset by a cut).
      journal.installed = liftTo(journal.installed, record.components);
      await this.#measure(journal);
      // A journal ahead of the floor holds a commit whose floor write a cut prevented (an update
      // of non-main components only): raising to it is safe, it only ever moves up.
      if (readable && updatedSince(journal.installed, record.components)) {
        await floor.raise(journal.installed);
      }
    }
    return { journal, floor };
  }

  // Fills in digests the journal does not know (a factory image) and caches them in the journal.
  async #measure(journal: Journal): Promise<void> {
    const measure = this.#deps.activeDigest;
    // Mid-update the running image may be the trial one, not what `installed` describes.
    if (measure === undefined || journal.action !== null) return;
    let changed = false;
    for (const [i, c] of journal.installed.entries()) {
      if (c.digest !== '') continue;
      const digest = await measure(c.id);
      if (digest === null) continue;
      journal.installed[i] = { ...c, digest };
      changed = true;
    }
    if (changed) await this.#deps.stateStore.save(encodeJournal(journal));
  }

  /**
   * Runs the machine from the journal's state. `until: 'idle'` returns when the agent is idle
   * again after at least one step (one poll, or one whole update); otherwise it polls until
   * `signal` aborts. Returns early with `halted: 'reboot'` after asking boot control to reboot.
   * Errors that are not `UpdraftError`s (bugs, a simulated power cut) escape unchanged.
   */
  async run(opts: { until?: 'idle'; signal?: AbortSignal } = {}): Promise<RunResult> {
    const { journal, floor } = await this.#open();
    const ctx = this.#context(journal, floor, opts.signal);
    if (journal.action !== null) {
      // Each restart in the middle of an update counts as a state write: a crash loop ends too.
      journal.stateWrites += 1;
      this.#log.info({ state: journal.state, actionId: journal.action.action.id }, 'resuming');
      await ctx.save();
    }
    let steps = 0;
    for (;;) {
      if (opts.signal?.aborted) return { halted: 'stopped' };
      if (opts.until === 'idle' && journal.state === 'Idle' && steps > 0) {
        return ctx.checkInError === null
          ? { halted: 'idle' }
          : { halted: 'idle', checkInError: ctx.checkInError };
      }
      const event = await this.#step(ctx, journal.state);
      // Read after the step: a runaway failure path is forced into Cleanup inside #step.
      const from = journal.state;
      const row = findTransition(from, event);
      if (row === undefined) throw new BugError(`no transition from ${from} on ${event}`);
      this.#log.debug({ from, on: event, to: row.to }, 'transition');
      this.#deps.events?.emit({ type: 'transition', from, on: event, to: row.to });
      journal.state = row.to;
      steps += 1;
      if (row.persist) {
        journal.stateWrites += 1;
        await ctx.save();
        if (!ctx.halt) await ctx.flush();
      }
      if (ctx.halt) {
        this.#deps.events?.emit({ type: 'halt', reason: 'reboot' });
        return { halted: 'reboot' };
      }
    }
  }

  async #step(ctx: HandlerContext, state: AgentState): Promise<AgentEvent> {
    const journal = ctx.journal;
    const max = this.#options.maxStateWrites;
    if (journal.action !== null && journal.stateWrites > max) {
      const record = journal.action;
      if (journal.stateWrites > 2 * max && state !== 'Cleanup') {
        // The failure path itself loops: drop the update (the device runs a verified image).
        journal.state = 'Cleanup';
        return this.#step(ctx, 'Cleanup');
      }
      if (record.error?.code !== 'AGENT_STATE_LOOP' && findTransition(state, 'StateLoopDetected')) {
        record.error = { code: 'AGENT_STATE_LOOP', message: `stuck in ${state}` };
        return 'StateLoopDetected';
      }
    }
    try {
      return await this.#handlers[state](ctx);
    } catch (error) {
      if (!isUpdraftError(error)) throw error;
      this.#log.warn({ state, code: error.code }, 'step failed');
      if (journal.action !== null) {
        journal.action.error ??= { code: error.code, message: error.message };
      }
      return 'failed';
    }
  }

  #context(
    journal: Journal,
    floor: RollbackFloor | null,
    signal: AbortSignal | undefined,
  ): HandlerContext {
    const deps = this.#deps;
    const log = this.#log;
    const ctx: HandlerContext = {
      deps,
      options: this.#options,
      journal,
      log,
      // The first poll of a run goes out at once; every later wait is a poll interval or a backoff.
      idleDelayMs: 0,
      checkInFailures: 0,
      checkInError: null,
      floor,
      halt: false,
      etag: null,
      signal,
      idleWait: async (ms) => {
        if (this.#wakePending) {
          this.#wakePending = false;
          return;
        }
        const waiting = new AbortController();
        this.#waiting = waiting;
        try {
          await deps.clock
            .sleep(ms, signal ? AbortSignal.any([signal, waiting.signal]) : waiting.signal)
            .catch(() => {});
        } finally {
          if (this.#waiting === waiting) this.#waiting = undefined;
        }
      },
      action(): ActionRecord {
        if (journal.action === null) throw new BugError('no action in progress');
        return journal.action;
      },
      report(status: FeedbackStatus, extra = {}) {
        const record = ctx.action();
        if (record.reported.includes(status)) return;
        record.reported.push(status);
        // Bounded: a device offline for months must not grow its journal without end.
        if (journal.outbox.length >= OUTBOX_MAX) journal.outbox.shift();
        journal.outbox.push({
          actionId: record.action.id,
          report: {
            reportId: deps.random.uuid(),
            status,
            progress: extra.progress ?? null,
            code: extra.code ?? null,
            message: extra.message ?? null,
            ...(extra.deltas !== undefined && extra.deltas.length > 0
              ? { deltas: [...extra.deltas] }
              : {}),
          },
        });
      },
      async save() {
        await deps.stateStore.save(encodeJournal(journal));
      },
      async flush() {
        while (journal.outbox.length > 0) {
          const entry = journal.outbox[0]!;
          try {
            const result = await deps.transport.sendFeedback(entry.actionId, entry.report);
            if (result === 'conflict') {
              log.warn({ actionId: entry.actionId, status: entry.report.status }, 'report refused');
            }
            deps.events?.emit({
              type: 'report',
              actionId: entry.actionId,
              status: entry.report.status,
              code: entry.report.code,
            });
          } catch (error) {
            if (!isUpdraftError(error)) throw error;
            log.warn({ code: error.code }, 'feedback not delivered, will retry');
            return;
          }
          journal.outbox.shift();
        }
      },
    };
    return ctx;
  }
}

/** `installed` with each component raised to its floor entry when the floor is higher. */
function liftTo(
  installed: readonly InstalledComponent[],
  floor: readonly InstalledComponent[],
): InstalledComponent[] {
  return installed.map((c) => {
    const f = floor.find((x) => x.id === c.id);
    return f !== undefined && f.sequenceNumber > c.sequenceNumber ? { ...f } : { ...c };
  });
}

/** Whether a journal's installed components are newer than the factory state (an update ran). */
function updatedSince(
  installed: readonly InstalledComponent[],
  factory: readonly InstalledComponent[],
): boolean {
  return installed.some((c) => {
    const f = factory.find((x) => x.id === c.id);
    return f === undefined || c.sequenceNumber > f.sequenceNumber;
  });
}
