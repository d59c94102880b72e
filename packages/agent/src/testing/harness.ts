// A device for unit tests: memory slots and boot control (fakes), a memory journal, the real HTTP
// transport against the test service, and the real agent. `boot()` = bootloader + a fresh agent.
import { createHash } from 'node:crypto';
import { HttpTransport } from '../adapters/http/http-transport.js';
import { Agent, type RunResult } from '../agent.js';
import type { AgentOptions } from '../agent-options.js';
import type { Decryptor } from '../install/envelope-verifier.js';
import type { AgentDeps } from '../machine/handler-context.js';
import type { Clock } from '../ports/clock.js';
import type { AgentNotice } from '../ports/events.js';
import type { IdentityRenewal } from '../ports/identity-renewal.js';
import type { Policy } from '../ports/policy.js';
import type { DeviceApiServer } from './device-api-server.js';
import {
  FakeClock,
  FaultPlan,
  MemoryBootControl,
  MemoryComponent,
  MemorySlot,
  MemoryStateStore,
  PowerCut,
  seededRandom,
} from './fakes.js';
import { testVerifier } from './signed-release.js';

export { CLASS, VENDOR } from './signed-release.js';

let nextSeed = 1;

/** SUIT component ids of the test device: the main image and two extra components. */
export const MAIN = '814100';
export const RADIO_ID = '814101';
export const CONFIG_ID = '814102';
export const SLOT_SIZE = 64 * 1024;
export const SECTOR = 4096;

/** A deterministic image of `size` bytes. */
export function image(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Options of a test device. */
export interface TestDeviceOptions {
  clock?: Clock;
  policy?: Policy;
  decryptor?: Decryptor;
  components?: string[];
  options?: Partial<AgentOptions>;
  /** Default: core's verifier trusting the test release key (signed-release.ts). */
  verifier?: import('../install/envelope-verifier.js').EnvelopeVerifier;
  /** Certificate rotation asked before each check-in. */
  identityRenewal?: IdentityRenewal;
  /** Main component id (default MAIN). */
  main?: string;
}

export class TestDevice {
  readonly faults = new FaultPlan();
  readonly slots = {
    a: new MemorySlot('a', SLOT_SIZE, SECTOR, 8, this.faults),
    b: new MemorySlot('b', SLOT_SIZE, SECTOR, 8, this.faults),
  };
  readonly boot = new MemoryBootControl(this.slots, this.faults);
  readonly store = new MemoryStateStore(this.faults);
  readonly floorStore = new MemoryStateStore(this.faults, 'rollback-floor');
  readonly components: MemoryComponent[];
  readonly notices: AgentNotice[] = [];
  readonly clock: Clock;
  readonly factory = image(20_000, 1);
  readonly random = seededRandom(nextSeed++);
  runs = 0;

  constructor(
    readonly server: DeviceApiServer,
    readonly opts: TestDeviceOptions = {},
  ) {
    this.clock = opts.clock ?? new FakeClock();
    this.slots.a.data.set(this.factory);
    this.components = (opts.components ?? []).map(
      (id) => new MemoryComponent(id, 16 * 1024, this.faults),
    );
  }

  deps(): AgentDeps {
    return {
      transport: new HttpTransport({ baseUrl: this.server.url, token: 'device-token' }),
      bootControl: this.boot,
      stateStore: this.store,
      rollbackFloor: this.floorStore,
      clock: this.clock,
      random: this.random,
      verifier: this.opts.verifier ?? testVerifier(),
      decryptor: this.opts.decryptor,
      components: this.components,
      policy: this.opts.policy,
      ...(this.opts.identityRenewal ? { identityRenewal: this.opts.identityRenewal } : {}),
      events: { emit: (n) => this.notices.push(n) },
    };
  }

  agent(): Agent {
    return new Agent(this.deps(), {
      initialComponents: [
        {
          id: this.opts.main ?? MAIN,
          version: '1.0.0',
          sequenceNumber: 1,
          digest: sha256(this.factory),
        },
        ...this.components.map((c) => ({
          id: c.id,
          version: '1.0.0',
          sequenceNumber: 1,
          digest: '',
        })),
      ],
      mainComponent: this.opts.main ?? MAIN,
      backoffBaseMs: 10,
      backoffCapMs: 100,
      checkpointBytes: 2 * SECTOR,
      stallTimeoutMs: 300,
      ...this.opts.options,
    });
  }

  /** Runs the agent until it is idle, booting through every reboot it asks for (at most `max`). */
  async runToIdle(max = 10): Promise<RunResult> {
    for (let i = 0; i < max; i++) {
      this.runs += 1;
      const result = await this.agent().run({ until: 'idle' });
      if (result.halted !== 'reboot') return result;
      this.boot.powerOn();
    }
    throw new Error('too many reboots');
  }

  /** Like runToIdle, but a PowerCut reboots the device and the run starts again. */
  async runThroughCuts(max = 20): Promise<number> {
    let cuts = 0;
    for (let i = 0; i < max; i++) {
      try {
        await this.runToIdle();
        return cuts;
      } catch (error) {
        if (!(error instanceof PowerCut)) throw error;
        cuts += 1;
        this.faults.cutAt = Number.POSITIVE_INFINITY;
        this.boot.powerOn();
      }
    }
    throw new Error('never converged');
  }

  /** The states the agent went through, in order. */
  chain(): string[] {
    const out: string[] = [];
    for (const n of this.notices) if (n.type === 'transition') out.push(n.to);
    return out;
  }

  /** The image the running slot holds (what booted). */
  running(): Uint8Array {
    return this.slots[this.boot.booted as 'a' | 'b'].data;
  }
}
