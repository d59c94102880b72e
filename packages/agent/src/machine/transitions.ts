import type { AgentEvent, AgentState } from './agent-states.js';

/** One row of the transition table. */
export interface Transition {
  readonly from: AgentState;
  readonly on: AgentEvent;
  readonly to: AgentState;
  /**
   * Save the journal (with `to` as its state) before `to`'s handler runs, so a power cut after
   * this point resumes in `to`. Rows without it stay in memory: a cut resumes from the last save.
   */
  readonly persist: boolean;
}

// Rows grouped by source state. A cancel request is honoured only before anything is installed
// (VerifyManifest, Download, InstallWait); after that the update runs to its end. An update is a chain of persisted steps; idle polling is not
// persisted (a cut while idle simply polls again). Every state except Idle has a `failed` row, and
// every state that persists has a `StateLoopDetected` row (the table test checks both).
/** The agent's whole behaviour as data; docs/agent-state-machine.md is generated from it. */
export const TRANSITIONS: readonly Transition[] = [
  { from: 'Idle', on: 'tick', to: 'CheckIn', persist: false },

  { from: 'CheckIn', on: 'noUpdate', to: 'Idle', persist: false },
  { from: 'CheckIn', on: 'update', to: 'VerifyManifest', persist: true },
  { from: 'CheckIn', on: 'failed', to: 'Idle', persist: false },

  { from: 'VerifyManifest', on: 'verified', to: 'Download', persist: true },
  { from: 'VerifyManifest', on: 'rejected', to: 'Reject', persist: true },
  { from: 'VerifyManifest', on: 'retry', to: 'VerifyManifest', persist: true },
  { from: 'VerifyManifest', on: 'canceled', to: 'Cleanup', persist: true },
  { from: 'VerifyManifest', on: 'failed', to: 'ArtifactFailure', persist: true },
  { from: 'VerifyManifest', on: 'StateLoopDetected', to: 'ArtifactFailure', persist: true },

  { from: 'Download', on: 'downloaded', to: 'InstallWait', persist: true },
  { from: 'Download', on: 'downloadOnly', to: 'Cleanup', persist: true },
  { from: 'Download', on: 'retry', to: 'Download', persist: true },
  { from: 'Download', on: 'canceled', to: 'Cleanup', persist: true },
  { from: 'Download', on: 'failed', to: 'ArtifactFailure', persist: true },
  { from: 'Download', on: 'StateLoopDetected', to: 'ArtifactFailure', persist: true },

  { from: 'InstallWait', on: 'allowed', to: 'ArtifactInstall', persist: true },
  { from: 'InstallWait', on: 'deferred', to: 'InstallWait', persist: false },
  { from: 'InstallWait', on: 'canceled', to: 'Cleanup', persist: true },
  { from: 'InstallWait', on: 'failed', to: 'ArtifactFailure', persist: true },
  { from: 'InstallWait', on: 'StateLoopDetected', to: 'ArtifactFailure', persist: true },

  { from: 'ArtifactInstall', on: 'installed', to: 'ArtifactReboot', persist: true },
  { from: 'ArtifactInstall', on: 'failed', to: 'ArtifactFailure', persist: true },
  { from: 'ArtifactInstall', on: 'StateLoopDetected', to: 'ArtifactFailure', persist: true },

  { from: 'ArtifactReboot', on: 'rebootRequested', to: 'ArtifactVerifyReboot', persist: true },
  { from: 'ArtifactReboot', on: 'rebooted', to: 'ArtifactVerifyReboot', persist: true },
  { from: 'ArtifactReboot', on: 'failed', to: 'ArtifactFailure', persist: true },
  { from: 'ArtifactReboot', on: 'StateLoopDetected', to: 'ArtifactFailure', persist: true },

  { from: 'ArtifactVerifyReboot', on: 'healthy', to: 'ArtifactCommit', persist: true },
  { from: 'ArtifactVerifyReboot', on: 'unhealthy', to: 'ArtifactRollback', persist: true },
  { from: 'ArtifactVerifyReboot', on: 'reverted', to: 'ArtifactFailure', persist: true },
  { from: 'ArtifactVerifyReboot', on: 'retry', to: 'ArtifactReboot', persist: true },
  { from: 'ArtifactVerifyReboot', on: 'failed', to: 'ArtifactRollback', persist: true },
  { from: 'ArtifactVerifyReboot', on: 'StateLoopDetected', to: 'ArtifactRollback', persist: true },

  { from: 'ArtifactCommit', on: 'committed', to: 'Cleanup', persist: true },
  { from: 'ArtifactCommit', on: 'failed', to: 'ArtifactRollback', persist: true },
  { from: 'ArtifactCommit', on: 'StateLoopDetected', to: 'ArtifactRollback', persist: true },

  { from: 'ArtifactRollback', on: 'rebootRequested', to: 'ArtifactRollbackReboot', persist: true },
  { from: 'ArtifactRollback', on: 'reverted', to: 'ArtifactFailure', persist: true },
  { from: 'ArtifactRollback', on: 'failed', to: 'ArtifactFailure', persist: true },
  { from: 'ArtifactRollback', on: 'StateLoopDetected', to: 'ArtifactFailure', persist: true },

  { from: 'ArtifactRollbackReboot', on: 'reverted', to: 'ArtifactFailure', persist: true },
  { from: 'ArtifactRollbackReboot', on: 'retry', to: 'ArtifactRollback', persist: true },
  { from: 'ArtifactRollbackReboot', on: 'failed', to: 'ArtifactFailure', persist: true },
  { from: 'ArtifactRollbackReboot', on: 'StateLoopDetected', to: 'ArtifactFailure', persist: true },

  { from: 'ArtifactFailure', on: 'rollback', to: 'ArtifactRollback', persist: true },
  { from: 'ArtifactFailure', on: 'done', to: 'Cleanup', persist: true },
  { from: 'ArtifactFailure', on: 'failed', to: 'Cleanup', persist: true },
  { from: 'ArtifactFailure', on: 'StateLoopDetected', to: 'Cleanup', persist: true },

  { from: 'Reject', on: 'done', to: 'Cleanup', persist: true },
  { from: 'Reject', on: 'failed', to: 'Cleanup', persist: true },
  { from: 'Reject', on: 'StateLoopDetected', to: 'Cleanup', persist: true },

  { from: 'Cleanup', on: 'done', to: 'Idle', persist: true },
  { from: 'Cleanup', on: 'failed', to: 'Idle', persist: true },
  { from: 'Cleanup', on: 'StateLoopDetected', to: 'Idle', persist: true },
];

/** The row for (`from`, `on`), or undefined when the table has none (a bug in a handler). */
export function findTransition(from: AgentState, on: AgentEvent): Transition | undefined {
  return TRANSITIONS.find((t) => t.from === from && t.on === on);
}
