import { AgentError } from '../errors.js';
import type { BootStatus } from '../ports/boot-control.js';
import type { StateStore } from '../ports/state-store.js';
import type { InstalledComponent } from '../ports/transport.js';
import { openSealedRecord, sealRecord } from './sealed-record.js';

/** Upper bound of an encoded record (a few components; anything bigger is corrupt). */
const FLOOR_MAX_BYTES = 64 * 1024;
const MAGIC = 'updraft-rollback-floor-1';

/**
 * The anti-rollback floor as stored: per component, the highest sequence number the device has
 * accepted and kept (with the version and digest that came with it). It lives apart from the
 * journal, so a lost or corrupt journal cannot lower it, and it is only ever raised.
 */
export interface RollbackFloorRecord {
  readonly format: 1;
  readonly components: readonly InstalledComponent[];
  /**
   * Written just before the bootloader is told to keep a trial image (the confirm): the
   * components that image carries and its slot. Promoted into `components` once a boot shows the
   * slot confirmed, dropped once a boot shows it reverted, so a power cut between the two writes
   * neither loses the new floor nor raises it for an image that did not stay.
   */
  readonly pending: {
    readonly slot: string;
    readonly components: readonly InstalledComponent[];
  } | null;
}

/**
 * The monotonic anti-rollback record over a {@link StateStore} of its own (its file adapter writes
 * atomically: temp file, fsync, rename). Every write keeps, per component, the higher of the stored
 * and the new sequence number.
 *
 * @example
 * const floor = new RollbackFloor(new FileStateStore(join(stateDir, 'rollback-floor')));
 * const record = await floor.load(); // null on a device that never ran this agent
 */
export class RollbackFloor {
  readonly #store: StateStore;

  constructor(store: StateStore) {
    this.#store = store;
  }

  /** The stored record, or null when none was ever written. Throws `AGENT_ROLLBACK_FLOOR_CORRUPT`. */
  async load(): Promise<RollbackFloorRecord | null> {
    const bytes = await this.#store.load();
    return bytes === null ? null : decodeRollbackFloor(bytes);
  }

  /** Raises the floor to `components` (never lowers it) and clears any pending entry. */
  async raise(components: readonly InstalledComponent[]): Promise<RollbackFloorRecord> {
    const current = await this.load();
    const next: RollbackFloorRecord = {
      format: 1,
      components: merge(current?.components ?? [], components),
      pending: null,
    };
    await this.#store.save(encodeRollbackFloor(next));
    return next;
  }

  /** Records what the trial image in `slot` carries, before it is confirmed (durable on return). */
  async prepare(slot: string, components: readonly InstalledComponent[]): Promise<void> {
    const current = await this.load();
    await this.#store.save(
      encodeRollbackFloor({
        format: 1,
        components: current?.components ?? [],
        pending: { slot, components: components.map((c) => ({ ...c })) },
      }),
    );
  }

  /**
   * Resolves a pending entry from what the bootloader did: the slot booted and confirmed →
   * promote; another slot booted → drop; still on trial → keep. Returns the resulting record.
   */
  async settle(record: RollbackFloorRecord, boot: BootStatus): Promise<RollbackFloorRecord> {
    const pending = record.pending;
    if (pending === null) return record;
    if (boot.booted === pending.slot && boot.trial) return record;
    if (boot.booted === pending.slot) return this.raise(pending.components);
    const next: RollbackFloorRecord = { format: 1, components: record.components, pending: null };
    await this.#store.save(encodeRollbackFloor(next));
    return next;
  }
}

/** Per component the entry with the higher sequence number; components only in one list stay. */
function merge(
  stored: readonly InstalledComponent[],
  incoming: readonly InstalledComponent[],
): InstalledComponent[] {
  const out = stored.map((c) => ({ ...c }));
  for (const c of incoming) {
    const at = out.findIndex((o) => o.id === c.id);
    if (at < 0) out.push({ ...c });
    else if (c.sequenceNumber > out[at]!.sequenceNumber) out[at] = { ...c };
  }
  return out;
}

/** JSON sealed like the journal (sealed-record.ts). */
export function encodeRollbackFloor(record: RollbackFloorRecord): Uint8Array {
  return sealRecord(MAGIC, JSON.stringify(record));
}

/** Decodes and checks a record; anything unexpected is `AGENT_ROLLBACK_FLOOR_CORRUPT`. */
export function decodeRollbackFloor(bytes: Uint8Array): RollbackFloorRecord {
  const corrupt = (why: string, cause?: unknown): AgentError =>
    new AgentError(
      'AGENT_ROLLBACK_FLOOR_CORRUPT',
      `the anti-rollback record is corrupt: ${why}`,
      cause === undefined ? {} : { cause },
    );
  if (bytes.length > FLOOR_MAX_BYTES) throw corrupt('too large');
  const opened = openSealedRecord(MAGIC, bytes);
  if ('problem' in opened) throw corrupt(opened.problem);
  let value: unknown;
  try {
    value = JSON.parse(opened.body);
  } catch (cause) {
    throw corrupt('not JSON', cause);
  }
  if (!isRecordShape(value)) throw corrupt('unexpected shape');
  return value;
}

function isComponent(v: unknown): v is InstalledComponent {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return (
    typeof c.id === 'string' &&
    typeof c.version === 'string' &&
    typeof c.digest === 'string' &&
    Number.isSafeInteger(c.sequenceNumber) &&
    Number(c.sequenceNumber) >= 0
  );
}

function isRecordShape(v: unknown): v is RollbackFloorRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  if (r.format !== 1 || !Array.isArray(r.components) || !r.components.every(isComponent)) {
    return false;
  }
  if (r.pending === null) return true;
  const p = r.pending as Record<string, unknown> | undefined;
  return (
    typeof p === 'object' &&
    typeof p.slot === 'string' &&
    Array.isArray(p.components) &&
    p.components.every(isComponent)
  );
}
