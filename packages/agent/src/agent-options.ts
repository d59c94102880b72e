import type { InstalledComponent } from './ports/transport.js';

/** Tunables of the agent, with their defaults (units in the names). */
export interface AgentOptions {
  /** SUIT component id of the main image, installed through boot control. */
  readonly mainComponent: string;
  /** What the device runs before its first update (factory state). */
  readonly initialComponents: readonly InstalledComponent[];
  /** Attributes sent at check-in. */
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  /** Check-in retry backoff: first ceiling and cap of the full-jitter window. */
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  /** Poll interval used until the server states one. */
  readonly defaultPollIntervalMs: number;
  /** No payload bytes for this long aborts the request (it resumes later). */
  readonly stallTimeoutMs: number;
  /** Failed attempts of one step (download, envelope fetch) before the update fails. */
  readonly maxAttempts: number;
  /** Save a download checkpoint at least every this many bytes (at a sector boundary). */
  readonly checkpointBytes: number;
  /** Persisted state writes per update before `StateLoopDetected`. */
  readonly maxStateWrites: number;
  readonly maxEnvelopeBytes: number;
  readonly healthCheckTimeoutMs: number;
}

/** Defaults for {@link AgentOptions}. */
export const DEFAULT_AGENT_OPTIONS: Omit<AgentOptions, 'initialComponents'> = {
  mainComponent: '814100', // [h'00'] as CBOR hex, core's name for a one-component release
  attributes: {},
  backoffBaseMs: 1_000, // 1 s
  backoffCapMs: 15 * 60_000, // 15 min
  defaultPollIntervalMs: 5 * 60_000, // 5 min
  stallTimeoutMs: 30_000, // 30 s
  maxAttempts: 8,
  checkpointBytes: 1024 * 1024, // 1 MiB
  maxStateWrites: 64,
  maxEnvelopeBytes: 1024 * 1024, // 1 MiB
  healthCheckTimeoutMs: 60_000, // 1 min
};
