import type { PushEndpoint } from '@updraft/core';
import type { AgentEvent, AgentState } from '../machine/agent-states.js';
import type { FeedbackStatus } from './transport.js';

/**
 * Typed events the agent emits for observers (the simulator's readable boot/update log, metrics,
 * tests). Emitting must not throw and must not block: the agent ignores what a listener does.
 */
export type AgentNotice =
  | {
      readonly type: 'transition';
      readonly from: AgentState;
      readonly on: AgentEvent;
      readonly to: AgentState;
    }
  | {
      readonly type: 'check-in';
      readonly action: string | null;
      /** Where to subscribe for push notices, when the service offers it (200 answers only). */
      readonly push?: PushEndpoint;
    }
  | {
      readonly type: 'report';
      readonly actionId: string;
      readonly status: FeedbackStatus;
      readonly code: string | null;
    }
  | {
      readonly type: 'progress';
      readonly component: string;
      readonly offset: number;
      readonly size: number;
    }
  | { readonly type: 'halt'; readonly reason: 'reboot' };

/** Receives {@link AgentNotice}s. */
export interface EventSink {
  emit(notice: AgentNotice): void;
}
