import {
  Agent,
  type AgentNotice,
  type AgentOptions,
  type EnvelopeVerifier,
  type InstalledComponent,
  type Random,
  type Transport,
} from '@updraft/agent';
import { Prng } from './prng.js';
import { MAIN_COMPONENT } from './release-envelope.js';
import type { AppContext, DeviceApplication } from './sim-device.js';

/** What {@link AgentApplication} needs besides the device's own ports. */
export interface AgentApplicationOptions {
  readonly transport: Transport;
  readonly verifier: EnvelopeVerifier;
  /** What the device runs before its first update (the provisioned image). */
  readonly initialComponents: readonly InstalledComponent[];
  readonly agentOptions?: Partial<AgentOptions>;
  readonly seed?: number;
  /**
   * Keep polling after the agent goes idle (default false: each boot runs until idle). The run
   * then ends only at a reboot or when the device's clock stops it (a `BoundedClock` deadline),
   * so actions assigned later, by later rollout phases, still reach the device.
   */
  readonly continuous?: boolean;
}

/** What the agent of one device did over all its boots, from its events. */
export interface UpdateTally {
  /** Updates reported `success` (the new image confirmed). */
  installed: number;
  /** Updates reported `failure` (including reverted ones). */
  failed: number;
  /** Of those, updates whose new image was tried and the device came back on its old one. */
  reverted: number;
}

/**
 * Runs the real `@updraft/agent` as a simulated device's application: after each boot a fresh
 * agent over the device's ports (flash slots, trailer boot control, flash journal, virtual
 * clock) resumes from its journal and runs until idle or until it reboots the device. The
 * health check answers what the booted image's scripted behaviour says.
 */
export class AgentApplication implements DeviceApplication {
  private readonly random: Random;
  /** Counts over every boot of this device (delivered reports, reverted trials). */
  readonly tally: UpdateTally = { installed: 0, failed: 0, reverted: 0 };

  constructor(private readonly options: AgentApplicationOptions) {
    this.random = seededRandom(options.seed ?? 1);
  }

  async run(ctx: AppContext): Promise<void> {
    const agent = new Agent(
      {
        transport: this.options.transport,
        bootControl: ctx.bootControl,
        stateStore: ctx.stateStore,
        clock: ctx.clock,
        random: this.random,
        verifier: this.options.verifier,
        policy: {
          healthCheck: async () =>
            ctx.healthy ? { ok: true } : { ok: false, reason: 'scripted health check failure' },
        },
        events: {
          emit: (notice) => {
            this.#count(notice);
            ctx.log(`agent: ${describe(notice)}`);
          },
        },
      },
      {
        initialComponents: this.options.initialComponents,
        mainComponent: MAIN_COMPONENT,
        checkpointBytes: 1024,
        ...this.options.agentOptions,
      },
    );
    await agent.run(this.options.continuous ? {} : { until: 'idle' });
  }

  #count(notice: AgentNotice): void {
    if (notice.type === 'report') {
      if (notice.status === 'success') this.tally.installed += 1;
      if (notice.status === 'failure') this.tally.failed += 1;
    }
    // Keep in sync with the agent's transition table: the two ways back to the old image.
    if (
      notice.type === 'transition' &&
      notice.on === 'reverted' &&
      (notice.from === 'ArtifactVerifyReboot' || notice.from === 'ArtifactRollbackReboot')
    ) {
      this.tally.reverted += 1;
    }
  }
}

function describe(n: AgentNotice): string {
  switch (n.type) {
    case 'transition':
      return `${n.from} --${n.on}--> ${n.to}`;
    case 'check-in':
      return `check-in action=${n.action ?? 'none'}`;
    case 'report':
      return `report ${n.status}${n.code ? ` code=${n.code}` : ''}`;
    case 'progress':
      return `progress ${n.component} ${n.offset}/${n.size}`;
    case 'halt':
      return `halt (${n.reason})`;
  }
}

/** A reproducible {@link Random} (report ids, jitter) from a seed. */
export function seededRandom(seed: number): Random {
  const rng = new Prng(seed);
  return {
    next: () => rng.float(),
    uuid: () => {
      const b = rng.fill(new Uint8Array(16));
      b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
      b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
      const h = Buffer.from(b).toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    },
  };
}
