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
}

/**
 * Runs the real `@updraft/agent` as a simulated device's application: after each boot a fresh
 * agent over the device's ports (flash slots, trailer boot control, flash journal, virtual
 * clock) resumes from its journal and runs until idle or until it reboots the device. The
 * health check answers what the booted image's scripted behaviour says.
 */
export class AgentApplication implements DeviceApplication {
  private readonly random: Random;

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
        events: { emit: (notice) => ctx.log(`agent: ${describe(notice)}`) },
      },
      {
        initialComponents: this.options.initialComponents,
        mainComponent: MAIN_COMPONENT,
        checkpointBytes: 1024,
        ...this.options.agentOptions,
      },
    );
    await agent.run({ until: 'idle' });
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
