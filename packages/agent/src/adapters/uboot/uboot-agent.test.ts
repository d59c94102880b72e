import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Policy } from '../../ports/policy.js';
import { bootChainAgent } from '../../testing/boot-chain-agent.js';
import { createFileUBootEnv, missingTools } from '../../testing/boot-env-fixtures.js';
import { DeviceApiServer } from '../../testing/device-api-server.js';
import { image, MAIN } from '../../testing/harness.js';
import { signedEnvelope } from '../../testing/signed-release.js';
import { FileSlot } from '../file/file-slot.js';
import { simulateUBootBoot } from './uboot-boot-script.js';
import { UBootEnv } from './uboot-env.js';
import { UBootEnvBootControl } from './uboot-env-boot-control.js';

// The real agent updating a device whose boot state is a U-Boot environment driven by the real
// fw_printenv/fw_setenv, with the simulated boot script doing every power-on.
const inCi = process.env.CI === 'true';
const unavailable = await missingTools(['fw_printenv', 'fw_setenv', 'mkenvimage']);
const skip = unavailable !== null && !inCi;
if (skip) console.warn(`U-Boot agent tests skipped: ${unavailable} (CI would fail here)`);

const SLOT = 64 * 1024;
const FACTORY = image(20_000, 1);
const NEW = image(30_001, 2);

let server: DeviceApiServer;
const dirs: string[] = [];
const slots: FileSlot[] = [];
beforeEach(async () => {
  server = await new DeviceApiServer().start();
});
afterEach(async () => {
  await server.close();
  for (const slot of slots.splice(0)) await slot.close();
});
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function device(policy?: Policy, crashesOn?: string) {
  if (unavailable !== null) throw new Error(`U-Boot agent tests cannot run: ${unavailable}`);
  const dir = await mkdtemp(join(tmpdir(), 'updraft-uboot-agent-'));
  dirs.push(dir);
  const { config } = await createFileUBootEnv(dir, {
    boot_slot: 'a',
    upgrade_available: '0',
    bootcount: '0',
    bootlimit: '3',
  });
  const pair = [
    await FileSlot.open({ name: 'a', path: join(dir, 'a.img'), size: SLOT, sectorSize: 4096 }),
    await FileSlot.open({ name: 'b', path: join(dir, 'b.img'), size: SLOT, sectorSize: 4096 }),
  ] as const;
  slots.push(...pair);
  await pair[0].write(0, FACTORY);
  const env = new UBootEnv({ config });
  const bootControl = new UBootEnvBootControl({ config, slots: pair });
  const { boots, runToIdle } = bootChainAgent({
    server,
    dir,
    bootControl,
    factory: FACTORY,
    policy,
    crashesOn,
    powerOn: async () => {
      const boot = simulateUBootBoot(await env.read(), ['a', 'b']);
      await env.write(boot.saved);
      return { slot: boot.boots, line: `${boot.boots}:${boot.row.runs}` };
    },
  });
  return { env, bootControl, boots, runToIdle, slot: pair };
}

async function offer() {
  server.offer({
    actionId: 'act_1',
    version: '1.1.0',
    sequenceNumber: 2,
    envelope: await signedEnvelope({ sequenceNumber: 2, components: [{ id: MAIN, image: NEW }] }),
    payloads: [NEW],
  });
}

describe.skipIf(skip)('the agent on a U-Boot environment', { timeout: 60_000 }, () => {
  it('installs into slot b, trial-boots it with bootcount 1, confirms, and reports success', async () => {
    const d = await device();
    await offer();
    await d.runToIdle();
    expect(d.boots).toEqual(['b:bootcmd']);
    expect(server.final('act_1')).toMatchObject({ status: 'success' });
    expect(Object.fromEntries(await d.env.read())).toMatchObject({
      boot_slot: 'b',
      upgrade_available: '0',
      bootcount: '0',
    });
    expect(await d.slot[1].read(0, NEW.length)).toEqual(NEW);
  });

  it('reports BOOT_TRIAL_EXHAUSTED when the new slot never comes up and U-Boot reverts', async () => {
    const d = await device(undefined, 'b');
    await offer();
    await d.runToIdle();
    expect(d.boots).toEqual(['b:bootcmd', 'b:bootcmd', 'b:bootcmd', 'a:altbootcmd']);
    expect(server.final('act_1')).toMatchObject({
      status: 'failure',
      code: 'BOOT_TRIAL_EXHAUSTED',
    });
    expect(await d.bootControl.status()).toMatchObject({ booted: 'a', trial: false });
  });

  it('rejects an unhealthy trial: the very next boot runs altbootcmd', async () => {
    const d = await device({ healthCheck: async () => ({ ok: false, reason: 'no network' }) });
    await offer();
    await d.runToIdle();
    expect(d.boots).toEqual(['b:bootcmd', 'a:altbootcmd']);
    expect(server.final('act_1')).toMatchObject({
      status: 'failure',
      code: 'AGENT_HEALTH_CHECK_FAILED',
    });
    expect(await d.bootControl.status()).toMatchObject({ booted: 'a', trial: false });
  });
});
