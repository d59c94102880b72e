import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Policy } from '../../ports/policy.js';
import { bootChainAgent } from '../../testing/boot-chain-agent.js';
import { createGrubEnv, missingTools } from '../../testing/boot-env-fixtures.js';
import { DeviceApiServer } from '../../testing/device-api-server.js';
import { image, MAIN } from '../../testing/harness.js';
import { signedEnvelope } from '../../testing/signed-release.js';
import { FileSlot } from '../file/file-slot.js';
import { simulateGrubBoot } from './grub-boot-script.js';
import { GrubEnv } from './grub-env.js';
import { GrubEnvBootControl } from './grub-env-boot-control.js';

// The real agent updating a device whose boot state is a GRUB environment block driven by the
// real grub-editenv, with the simulated grub.cfg doing every power-on.
const inCi = process.env.CI === 'true';
const unavailable = await missingTools(['grub-editenv']);
const skip = unavailable !== null && !inCi;
if (skip) console.warn(`GRUB agent tests skipped: ${unavailable} (CI would fail here)`);

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
  if (unavailable !== null) throw new Error(`GRUB agent tests cannot run: ${unavailable}`);
  const dir = await mkdtemp(join(tmpdir(), 'updraft-grub-agent-'));
  dirs.push(dir);
  const file = await createGrubEnv(join(dir, 'grubenv'), { saved_entry: 'a' });
  const pair = [
    await FileSlot.open({ name: 'a', path: join(dir, 'a.img'), size: SLOT, sectorSize: 4096 }),
    await FileSlot.open({ name: 'b', path: join(dir, 'b.img'), size: SLOT, sectorSize: 4096 }),
  ] as const;
  slots.push(...pair);
  await pair[0].write(0, FACTORY);
  const env = new GrubEnv({ file });
  const bootControl = new GrubEnvBootControl({ file, slots: pair });
  const { boots, runToIdle } = bootChainAgent({
    server,
    dir,
    bootControl,
    factory: FACTORY,
    policy,
    crashesOn,
    powerOn: async () => {
      const boot = simulateGrubBoot(await env.read(), ['a', 'b']);
      await env.write(boot.saved);
      return { slot: boot.boots, line: `${boot.boots}:${boot.case}` };
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

describe.skipIf(skip)('the agent on a GRUB environment', { timeout: 60_000 }, () => {
  it('boots next_entry once, confirms it as saved_entry, and reports success', async () => {
    const d = await device();
    await offer();
    await d.runToIdle();
    expect(d.boots).toEqual(['b:one-shot']);
    expect(server.final('act_1')).toMatchObject({ status: 'success' });
    const env = await d.env.read();
    expect([env.get('saved_entry'), env.get('next_entry') || null]).toEqual(['b', null]);
    expect(env.get('updraft_trial') || null).toBeNull();
    expect(await d.slot[1].read(0, NEW.length)).toEqual(NEW);
  });

  it('reports BOOT_TRIAL_EXHAUSTED when the one-shot boot never reaches the agent', async () => {
    const d = await device(undefined, 'b');
    await offer();
    await d.runToIdle();
    expect(d.boots).toEqual(['b:one-shot', 'a:unconfirmed-trial']);
    expect(server.final('act_1')).toMatchObject({
      status: 'failure',
      code: 'BOOT_TRIAL_EXHAUSTED',
    });
    expect(await d.bootControl.status()).toMatchObject({ booted: 'a', trial: false });
  });

  it('goes back to saved_entry after a failed health check (a reboot is the revert)', async () => {
    const d = await device({ healthCheck: async () => ({ ok: false, reason: 'no network' }) });
    await offer();
    await d.runToIdle();
    expect(d.boots).toEqual(['b:one-shot', 'a:unconfirmed-trial']);
    expect(server.final('act_1')).toMatchObject({
      status: 'failure',
      code: 'AGENT_HEALTH_CHECK_FAILED',
    });
    expect(await d.bootControl.status()).toMatchObject({ booted: 'a', trial: false });
  });
});
