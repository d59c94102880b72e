// In-memory fakes of the ports, for unit tests of the code above them only. Real devices use the
// file adapters; simulated devices use @updraft/sim's flash and bootloader.
import { BugError } from '@updraft/core';
import type { BootControl, BootStatus } from '../ports/boot-control.js';
import type { Clock } from '../ports/clock.js';
import type { ComponentHandler } from '../ports/component-handler.js';
import type { Random } from '../ports/random.js';
import type { Slot, SlotSector } from '../ports/slot.js';
import type { StateStore } from '../ports/state-store.js';

/** Thrown by fakes to model a power cut: not an UpdraftError, so it escapes the agent. */
export class PowerCut extends Error {
  constructor() {
    super('power cut');
    this.name = 'PowerCut';
  }
}

/** Counts operations across fakes and cuts power at the Nth one. */
export class FaultPlan {
  ops = 0;
  cutAt = Number.POSITIVE_INFINITY;
  readonly log: string[] = [];
  tick(what: string): void {
    this.ops += 1;
    this.log.push(what);
    if (this.ops === this.cutAt) throw new PowerCut();
  }
}

/** A NOR-like slot in memory: erase before write, aligned writes. */
export class MemorySlot implements Slot {
  readonly sectors: readonly SlotSector[];
  readonly erasedValue = 0xff;
  readonly data: Uint8Array;
  readonly #erased: boolean[];
  writes = 0;

  constructor(
    readonly name: string,
    readonly size: number,
    readonly sectorSize: number,
    readonly writeAlign = 8,
    readonly faults: FaultPlan = new FaultPlan(),
  ) {
    this.data = new Uint8Array(size).fill(0xff);
    this.sectors = Array.from({ length: size / sectorSize }, (_, i) => ({
      offset: i * sectorSize,
      size: sectorSize,
    }));
    this.#erased = new Array(size / this.writeAlign).fill(true);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || offset + length > this.size) throw new BugError('read out of range');
    return this.data.slice(offset, offset + length);
  }

  async erase(offset: number, length: number): Promise<void> {
    if (offset % this.sectorSize !== 0 || length % this.sectorSize !== 0) {
      throw new BugError('unaligned erase');
    }
    this.faults.tick(`erase ${this.name}@${offset}`);
    this.data.fill(0xff, offset, offset + length);
    for (let w = offset / this.writeAlign; w < (offset + length) / this.writeAlign; w++) {
      this.#erased[w] = true;
    }
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset % this.writeAlign !== 0 || bytes.length % this.writeAlign !== 0) {
      throw new BugError('unaligned write');
    }
    for (let w = offset / this.writeAlign; w < (offset + bytes.length) / this.writeAlign; w++) {
      if (!this.#erased[w])
        throw new BugError(`write to unerased memory at ${w * this.writeAlign}`);
    }
    this.faults.tick(`write ${this.name}@${offset}`);
    this.data.set(bytes, offset);
    this.writes += 1;
    for (let w = offset / this.writeAlign; w < (offset + bytes.length) / this.writeAlign; w++) {
      this.#erased[w] = false;
    }
  }
}

/** An A/B boot control with MCUboot-like trial boots, in memory. */
export class MemoryBootControl implements BootControl {
  booted = 'a';
  trial = false;
  pending: string | null = null;
  lastFailure: string | null = null;
  rebootRequests = 0;
  /** Per slot: does the image boot? (a crashing image makes the bootloader revert) */
  readonly bootable = new Map<string, boolean>();
  /** Images the bootloader accepts (its signature check); empty = accept anything. */
  readonly valid: Uint8Array[] = [];
  /** Boots a trial image gets before the bootloader reverts it (MCUboot-style boot attempts). */
  trialBoots = 3;
  #trialLeft = 0;
  #rejected = false;
  /** Every slot booted, with whether its content was a valid image then. */
  readonly bootLog: { slot: string; valid: boolean }[] = [];

  constructor(
    readonly slots: Record<string, MemorySlot>,
    readonly faults: FaultPlan = new FaultPlan(),
  ) {}

  async status(): Promise<BootStatus> {
    return {
      booted: this.booted,
      trial: this.trial,
      pending: this.pending,
      lastFailure: this.lastFailure,
    };
  }
  async updateSlot(): Promise<Slot> {
    return this.#get(this.booted === 'a' ? 'b' : 'a');
  }
  async slot(name: string): Promise<Slot> {
    return this.#get(name);
  }
  async markPending(name: string): Promise<void> {
    this.faults.tick(`markPending ${name}`);
    this.pending = name;
  }
  async clearPending(): Promise<void> {
    this.faults.tick('clearPending');
    this.pending = null;
  }
  async confirm(): Promise<void> {
    this.faults.tick('confirm');
    this.trial = false;
    this.lastFailure = null;
  }
  async reject(): Promise<void> {
    this.#rejected = true;
  }
  async reboot(): Promise<void> {
    this.rebootRequests += 1;
  }

  /** What the bootloader does at power-on. */
  powerOn(): void {
    if (this.trial && this.#trialLeft > 0 && !this.#rejected) {
      // A reset during the trial (power cut) uses up one boot attempt.
      this.#trialLeft -= 1;
    } else if (this.trial) {
      // Unconfirmed trial image: revert to the previous slot.
      this.booted = this.booted === 'a' ? 'b' : 'a';
      this.trial = false;
      this.#rejected = false;
      this.lastFailure = 'BOOT_TRIAL_REVERTED';
    } else if (this.pending !== null) {
      const target = this.pending;
      this.pending = null;
      if (!this.isValid(target)) {
        this.lastFailure = 'BOOT_IMAGE_INVALID';
      } else if (this.bootable.get(target) === false) {
        this.lastFailure = 'BOOT_TRIAL_EXHAUSTED';
      } else {
        this.booted = target;
        this.trial = true;
        this.#trialLeft = this.trialBoots - 1;
      }
    }
    this.bootLog.push({ slot: this.booted, valid: this.isValid(this.booted) });
  }

  /** Whether a slot starts with one of the accepted images. */
  isValid(name: string): boolean {
    if (this.valid.length === 0) return true;
    const data = this.#get(name).data;
    return this.valid.some((img) => img.every((b, i) => data[i] === b));
  }

  #get(name: string): MemorySlot {
    const slot = this.slots[name];
    if (!slot) throw new BugError(`no slot ${name}`);
    return slot;
  }
}

/** A record store in memory (journal, rollback floor); atomic by construction. */
export class MemoryStateStore implements StateStore {
  record: Uint8Array | null = null;
  saves = 0;
  constructor(
    readonly faults: FaultPlan = new FaultPlan(),
    readonly label = 'journal',
  ) {}
  async load(): Promise<Uint8Array | null> {
    return this.record === null ? null : this.record.slice();
  }
  async save(record: Uint8Array): Promise<void> {
    this.faults.tick(this.label);
    this.record = record.slice();
    this.saves += 1;
  }
}

/**
 * A clock whose waits return at once and advance time. The agent's timers raced against I/O
 * (stall, health check) run on its `timeoutClock`, which tests leave on real time.
 */
export class FakeClock implements Clock {
  time = Date.parse('2026-11-22T00:00:00Z');
  slept: number[] = [];
  /** Runs before every sleep: a test's stop condition (abort the run's signal here). */
  onSleep: (ms: number) => void = () => {};
  /** Sleeps at least this long never end on their own, only by their signal (a stop request). */
  hangFromMs = Number.POSITIVE_INFINITY;
  now(): number {
    return this.time;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.onSleep(ms);
    if (signal?.aborted) throw signal.reason;
    if (ms >= this.hangFromMs) {
      await new Promise<never>((_, reject) => {
        if (!signal) return;
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    this.slept.push(ms);
    this.time += ms;
  }
}

/** A clock with real timers (stall timeouts need time to pass while a request hangs). */
export class RealClock implements Clock {
  now(): number {
    return Date.now();
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    });
  }
}

/** A seeded random source. */
export function seededRandom(seed = 42): Random {
  let state = seed;
  let counter = 0;
  return {
    next() {
      state = (state * 48271) % 2147483647;
      return state / 2147483647;
    },
    uuid() {
      counter += 1;
      return `${seed.toString(16).padStart(8, '0')}-0000-4000-8000-${counter.toString(16).padStart(12, '0')}`;
    },
  };
}

/** A component handler whose staging and active contents are memory slots. */
export class MemoryComponent implements ComponentHandler {
  readonly staging: MemorySlot;
  active: Uint8Array = new Uint8Array(0);
  previous: Uint8Array | null = null;
  applied = false;
  committed = 0;
  constructor(
    readonly id: string,
    size: number,
    readonly faults: FaultPlan = new FaultPlan(),
  ) {
    this.staging = new MemorySlot(`staging-${id}`, size, 4096, 8, faults);
  }
  async stagingSlot(): Promise<Slot> {
    return this.staging;
  }
  async apply(): Promise<void> {
    if (this.applied) return;
    this.faults.tick(`apply ${this.id}`);
    this.previous = this.active;
    this.active = this.staging.data.slice();
    this.applied = true;
  }
  async revert(): Promise<void> {
    if (!this.applied || this.previous === null) return;
    this.faults.tick(`revert ${this.id}`);
    this.active = this.previous;
    this.applied = false;
  }
  async commit(): Promise<void> {
    this.committed += 1;
    this.previous = null;
    this.applied = false;
  }
}
