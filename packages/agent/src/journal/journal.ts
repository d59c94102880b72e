import { AgentError } from '../errors.js';
import { type AgentState, isAgentState } from '../machine/agent-states.js';
import type { DeviceAction, FeedbackReport, InstalledComponent } from '../ports/transport.js';
import { openSealedRecord, sealRecord } from './sealed-record.js';

/** Upper bound of an encoded journal: it is a small record, anything bigger is corrupt. */
export const JOURNAL_MAX_BYTES = 256 * 1024;

/**
 * The agent's persistent memory, saved through the `StateStore` before each step
 * (see `persist` in transitions.ts) and at download checkpoints.
 */
export interface Journal {
  readonly format: 1;
  state: AgentState;
  /** Persisted state changes since the current action began; too many = a loop. */
  stateWrites: number;
  /** What the device runs, per component; changes only when an update commits. */
  installed: InstalledComponent[];
  /** Reports not yet accepted by the service, oldest first; survives power cuts. */
  outbox: OutboxEntry[];
  /** Ids of the last finished actions, so a lost final report never installs twice. */
  finished: string[];
  /** The update in progress, or null when idle. */
  action: ActionRecord | null;
  /**
   * The service's last stated poll interval (ms), or null before the first answer. Waits after a
   * restart are computed from it, never from a zero in memory (a resumed wait must not spin).
   */
  pollIntervalMs: number | null;
}

/** One queued feedback report. */
export interface OutboxEntry {
  readonly actionId: string;
  readonly report: FeedbackReport;
}

/** The update in progress. */
export interface ActionRecord {
  readonly action: DeviceAction;
  /** The verified install plan (after VerifyManifest). */
  plan: PlannedComponent[] | null;
  /** Whether a failure of any component must revert all of them. */
  allOrNothing: boolean;
  /** The slot the main image goes to; chosen once so a resumed write goes to the same slot. */
  targetSlot: string | null;
  /** The slot that ran when the update started (where a revert must land). */
  previousSlot: string | null;
  /** Component ids already applied (non-main components), for revert. */
  applied: string[];
  /** The first failure; it is what the final report carries. */
  error: { code: string; message: string } | null;
  /** Statuses already queued for this action (the service refuses repeats of some). */
  reported: string[];
  /** Attempts of the current retrying step (download, envelope fetch). */
  attempts: number;
}

/** One component of the verified plan, with its download progress. */
export interface PlannedComponent {
  /** SUIT component id (hex). */
  readonly id: string;
  readonly version: string;
  readonly sequenceNumber: number;
  /** Size of the image as written to the slot (plaintext). */
  readonly size: number;
  /** SHA-256 hex of the image, from the signed manifest. */
  readonly digest: string;
  /** Index into the action's payloads of the bytes to download. */
  readonly payloadIndex: number;
  /** Bytes to download, from the signed manifest. */
  readonly payloadSize: number;
  /** Opaque encryption info for the decryptor, base64 of core's bytes; null when in clear. */
  readonly encryption: string | null;
  /** Plaintext bytes durably written to the slot (a sector boundary). */
  written: number;
  /** True once the whole image is written and its digest matched. */
  complete: boolean;
  /** SHA-256 of the delta patch the image was rebuilt from (reported with `downloaded`). */
  patchDigest?: string;
}

/** A journal for a device that has never updated. */
export function initialJournal(installed: readonly InstalledComponent[]): Journal {
  return {
    format: 1,
    state: 'Idle',
    stateWrites: 0,
    installed: installed.map((c) => ({ ...c })),
    outbox: [],
    finished: [],
    action: null,
    pollIntervalMs: null,
  };
}

const MAGIC = 'updraft-journal-1';

/** Encodes a journal as JSON followed by a SHA-256 line, so a damaged record is detected. */
export function encodeJournal(journal: Journal): Uint8Array {
  const bytes = sealRecord(MAGIC, JSON.stringify(journal));
  if (bytes.length > JOURNAL_MAX_BYTES) {
    throw new AgentError('AGENT_JOURNAL_CORRUPT', 'journal grew over its size limit', {
      details: { bytes: bytes.length },
    });
  }
  return bytes;
}

/** Decodes and checks a journal; throws `AGENT_JOURNAL_CORRUPT` on anything unexpected. */
export function decodeJournal(bytes: Uint8Array): Journal {
  const corrupt = (why: string): AgentError =>
    new AgentError('AGENT_JOURNAL_CORRUPT', `journal is corrupt: ${why}`);
  if (bytes.length > JOURNAL_MAX_BYTES) throw corrupt('too large');
  const opened = openSealedRecord(MAGIC, bytes);
  if ('problem' in opened) throw corrupt(opened.problem);
  let value: unknown;
  try {
    value = JSON.parse(opened.body);
  } catch (cause) {
    throw new AgentError('AGENT_JOURNAL_CORRUPT', 'journal is not JSON', { cause });
  }
  if (!isJournalShape(value)) throw corrupt('unexpected shape');
  // Journals written before the poll interval was kept have none: the default applies.
  value.pollIntervalMs ??= null;
  return value;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// The checksum already excludes random damage; this guards against records from another version.
function isJournalShape(v: unknown): v is Journal {
  if (!isRecord(v) || v.format !== 1 || !isAgentState(v.state)) return false;
  if (typeof v.stateWrites !== 'number' || !Array.isArray(v.installed)) return false;
  if (!Array.isArray(v.outbox) || !Array.isArray(v.finished)) return false;
  const poll = v.pollIntervalMs;
  if (poll !== undefined && poll !== null && !(Number.isSafeInteger(poll) && Number(poll) > 0)) {
    return false;
  }
  if (v.action !== null) {
    const a = v.action;
    if (!isRecord(a) || !isRecord(a.action) || typeof a.action.id !== 'string') return false;
    if (a.plan !== null && !Array.isArray(a.plan)) return false;
    if (!Array.isArray(a.applied) || !Array.isArray(a.reported)) return false;
  }
  return true;
}
