import type { UpdraftError } from '@updraft/core';
import type { AgentOptions } from '../agent-options.js';
import type { Decryptor, EnvelopeVerifier } from '../install/envelope-verifier.js';
import type { ActionRecord, Journal } from '../journal/journal.js';
import type { RollbackFloor } from '../journal/rollback-floor.js';
import type { BootControl } from '../ports/boot-control.js';
import type { Clock } from '../ports/clock.js';
import type { ComponentHandler } from '../ports/component-handler.js';
import type { EventSink } from '../ports/events.js';
import type { IdentityRenewal } from '../ports/identity-renewal.js';
import type { Logger } from '../ports/logger.js';
import type { Policy } from '../ports/policy.js';
import type { Random } from '../ports/random.js';
import type { StateStore } from '../ports/state-store.js';
import type { FeedbackStatus, Transport } from '../ports/transport.js';
import type { AgentEvent, AgentState } from './agent-states.js';

/** The agent's collaborators: ports and the core-backed verification. */
export interface AgentDeps {
  readonly transport: Transport;
  readonly bootControl: BootControl;
  readonly stateStore: StateStore;
  /**
   * Where the anti-rollback floor is kept, apart from the journal (journal/rollback-floor.ts).
   * Without it the journal alone holds the installed sequence numbers, and a lost journal falls
   * back to the factory state; every Linux device (`openFileDevice`) has one.
   */
  readonly rollbackFloor?: StateStore;
  /**
   * SHA-256 hex of the image a component runs now, or null when it cannot tell. Asked once, at
   * start, for components whose digest the journal does not know (a factory image); the answer
   * is cached in the journal, and every install after that records the verified digest.
   */
  readonly activeDigest?: (componentId: string) => Promise<string | null>;
  readonly clock: Clock;
  /**
   * Timers raced against I/O: the download stall timeout and the health-check timeout.
   * Default: real time (`systemClock`), because I/O takes real time even when `clock` is
   * virtual (the simulator's clock jumps ahead on every sleep).
   */
  readonly timeoutClock?: Clock;
  readonly random: Random;
  readonly verifier: EnvelopeVerifier;
  readonly decryptor?: Decryptor;
  /** Handlers of the non-main components (radio firmware, configuration blob, …). */
  readonly components?: readonly ComponentHandler[];
  readonly policy?: Policy;
  /** Certificate rotation, asked before every check-in (absent: token or fixed certificate). */
  readonly identityRenewal?: IdentityRenewal;
  readonly logger?: Logger;
  readonly events?: EventSink;
}

/** What a handler sees: the ports, the journal, and a few helpers of the runner. */
export interface HandlerContext {
  readonly deps: AgentDeps;
  readonly options: AgentOptions;
  readonly journal: Journal;
  readonly log: Logger;
  /** The action in progress; a bug to ask for outside an update. */
  action(): ActionRecord;
  /** Queues a feedback report (sent after the next save, retried until accepted). */
  report(
    status: FeedbackStatus,
    extra?: {
      code?: string | null;
      progress?: number | null;
      message?: string | null;
      /** Delta patches applied (with `downloaded`). */
      deltas?: readonly string[];
    },
  ): void;
  /** Saves the journal as it is (download checkpoints). */
  save(): Promise<void>;
  /** Sends queued reports now, best effort. */
  flush(): Promise<void>;
  /** Delay before the next check-in (poll interval or backoff). */
  idleDelayMs: number;
  /** Consecutive failed check-ins (backoff exponent). */
  checkInFailures: number;
  /** Why the last check-in failed, or null when it was answered. */
  checkInError: UpdraftError | null;
  /** The anti-rollback floor, when the device keeps one. */
  readonly floor: RollbackFloor | null;
  /** Set by a handler that asked for a reboot: the runner stops after the transition. */
  halt: boolean;
  /** ETag of the last check-in answer. */
  etag: string | null;
  /** Aborts long waits (idle polling, deferred installs) when the daemon stops. */
  readonly signal: AbortSignal | undefined;
  /**
   * Waits `ms` between polls; ends early on a stop request or {@link Agent.wake} (a wake that
   * came while the agent was busy ends the next wait at once). Never throws.
   */
  idleWait(ms: number): Promise<void>;
}

/** A state's behaviour: does its I/O through ports, answers with an event. */
export type Handler = (ctx: HandlerContext) => Promise<AgentEvent>;

/** One handler per state; a missing state does not compile. */
export type Handlers = Readonly<Record<AgentState, Handler>>;
