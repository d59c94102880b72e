/**
 * The agent's states. Artifact steps use the Mender client's names; the rest are Updraft's.
 * Keep docs/agent-state-machine.md in sync (`npx tsx packages/agent/scripts/write-state-machine-doc.ts`; a test checks).
 */
export const AGENT_STATES = [
  'Idle',
  'CheckIn',
  'VerifyManifest',
  'Download',
  'InstallWait',
  'ArtifactInstall',
  'ArtifactReboot',
  'ArtifactVerifyReboot',
  'ArtifactCommit',
  'ArtifactRollback',
  'ArtifactRollbackReboot',
  'ArtifactFailure',
  'Reject',
  'Cleanup',
] as const;
/** One agent state. */
export type AgentState = (typeof AGENT_STATES)[number];

/** Runtime guard for {@link AgentState} (journals are read back from storage). */
export function isAgentState(value: unknown): value is AgentState {
  return typeof value === 'string' && (AGENT_STATES as readonly string[]).includes(value);
}

/** Events a handler answers with; the transition table maps (state, event) to the next state. */
export const AGENT_EVENTS = [
  'tick',
  'noUpdate',
  'update',
  'verified',
  'rejected',
  'downloaded',
  'downloadOnly',
  'allowed',
  'deferred',
  'installed',
  'rebootRequested',
  'rebooted',
  'healthy',
  'unhealthy',
  'reverted',
  'committed',
  'rollback',
  'retry',
  'canceled',
  'done',
  'failed',
  'StateLoopDetected',
] as const;
/** One event. */
export type AgentEvent = (typeof AGENT_EVENTS)[number];

/** Runtime guard for {@link AgentEvent}. */
export function isAgentEvent(value: unknown): value is AgentEvent {
  return typeof value === 'string' && (AGENT_EVENTS as readonly string[]).includes(value);
}
