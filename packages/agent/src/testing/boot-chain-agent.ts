import { join } from 'node:path';
import { FileStateStore } from '../adapters/file/file-state-store.js';
import { HttpTransport } from '../adapters/http/http-transport.js';
import { Agent, type RunResult } from '../agent.js';
import type { BootControl } from '../ports/boot-control.js';
import type { Policy } from '../ports/policy.js';
import type { DeviceApiServer } from './device-api-server.js';
import { FakeClock, MemoryStateStore, seededRandom } from './fakes.js';
import { MAIN, sha256 } from './harness.js';
import { testVerifier } from './signed-release.js';

/**
 * The real agent (journal in `dir`, talking to `server`) on a device whose boot state is a boot
 * loader's environment (GRUB, U-Boot): `bootControl` over it, and `powerOn`, one run of the
 * simulated boot script that returns the slot it boots and the line recorded in `boots`.
 * `runToIdle` runs the agent, powering the device on after every reboot it asks for; a slot named
 * `crashesOn` never reaches the agent, so its boot power-cycles again.
 */
export function bootChainAgent(options: {
  server: DeviceApiServer;
  dir: string;
  bootControl: BootControl;
  /** The image slot a holds from the factory, reported as MAIN 1.0.0. */
  factory: Uint8Array;
  powerOn: () => Promise<{ slot: string; line: string }>;
  policy?: Policy;
  crashesOn?: string;
}): { boots: string[]; runToIdle: () => Promise<RunResult> } {
  const journal = new FileStateStore(join(options.dir, 'journal'));
  const floor = new MemoryStateStore(undefined, 'rollback-floor');
  const clock = new FakeClock();
  const random = seededRandom(7);
  const agent = () =>
    new Agent(
      {
        transport: new HttpTransport({ baseUrl: options.server.url, token: 'device-token' }),
        bootControl: options.bootControl,
        stateStore: journal,
        rollbackFloor: floor,
        clock,
        random,
        verifier: testVerifier(),
        components: [],
        policy: options.policy,
        events: { emit: () => {} },
      },
      {
        initialComponents: [
          { id: MAIN, version: '1.0.0', sequenceNumber: 1, digest: sha256(options.factory) },
        ],
        mainComponent: MAIN,
        backoffBaseMs: 10,
        backoffCapMs: 100,
        checkpointBytes: 8192,
        stallTimeoutMs: 300,
      },
    );
  const boots: string[] = [];
  /** Power-on: the boot script decides; a slot that crashes before the agent starts power-cycles again. */
  const powerOn = async () => {
    for (let i = 0; i < 10; i++) {
      const boot = await options.powerOn();
      boots.push(boot.line);
      if (boot.slot !== options.crashesOn) return;
    }
    throw new Error('never booted');
  };
  const runToIdle = async (): Promise<RunResult> => {
    for (let i = 0; i < 10; i++) {
      const result = await agent().run({ until: 'idle' });
      if (result.halted !== 'reboot') return result;
      await powerOn();
    }
    throw new Error('too many reboots');
  };
  return { boots, runToIdle };
}
