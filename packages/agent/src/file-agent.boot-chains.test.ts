import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { simulateGrubBoot } from './adapters/grub/grub-boot-script.js';
import { GrubEnv } from './adapters/grub/grub-env.js';
import { DEFAULT_GRUB_VARIABLES } from './adapters/grub/grub-variables.js';
import { simulateUBootBoot } from './adapters/uboot/uboot-boot-script.js';
import { UBootEnv } from './adapters/uboot/uboot-env.js';
import { DEFAULT_UBOOT_VARIABLES } from './adapters/uboot/uboot-variables.js';
import { loadAgentConfig } from './config/agent-config.js';
import { runFileAgent } from './file-agent.js';
import { createFileUBootEnv, createGrubEnv, missingTools } from './testing/boot-env-fixtures.js';
import { DeviceApiServer } from './testing/device-api-server.js';
import { image, MAIN, sha256 } from './testing/harness.js';
import { CLASS, RELEASE_KEY, signedEnvelope, VENDOR } from './testing/signed-release.js';

// `updraft agent run` as an integrator configures it: the agent is built FROM A CONFIG FILE whose
// `bootControl` names a U-Boot environment (fw_printenv/fw_setenv) or a GRUB environment block
// (grub-editenv), and updates the device through the test service. Between runs the simulated
// boot script does the power-on on the real environment, as the board's boot loader would.
const inCi = process.env.CI === 'true';
const unavailable = await missingTools(['fw_printenv', 'fw_setenv', 'mkenvimage', 'grub-editenv']);
const skip = unavailable !== null && !inCi;
if (skip) console.warn(`boot-chain config tests skipped: ${unavailable} (CI would fail here)`);

const SLOT = 64 * 1024;
const FACTORY = image(20_000, 1);
const NEW = image(30_001, 2);

const uuid = (bytes: Uint8Array): string =>
  Buffer.from(bytes)
    .toString('hex')
    .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

let server: DeviceApiServer;
let dir: string;
const dirs: string[] = [];
beforeEach(async () => {
  if (unavailable !== null) throw new Error(`boot-chain config tests cannot run: ${unavailable}`);
  server = await new DeviceApiServer().start();
  dir = await mkdtemp(join(tmpdir(), 'updraft-boot-chain-config-'));
  dirs.push(dir);
  await writeFile(
    join(dir, 'release.pub'),
    RELEASE_KEY.publicKey.export({ type: 'spki', format: 'pem' }),
  );
  await writeFile(join(dir, 'a.img'), FACTORY);
});
afterEach(async () => {
  await server.close();
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Writes `agent.json` (relative paths, as on a device: resolved against its folder). */
async function writeConfig(extra: Record<string, unknown>): Promise<string> {
  const file = join(dir, 'agent.json');
  const config = {
    server: { url: server.url, token: 'device-token' },
    device: { vendorId: uuid(VENDOR), classId: uuid(CLASS) },
    trustedKeys: ['release.pub'],
    stateDir: 'state',
    slots: { a: { path: 'a.img', size: SLOT }, b: { path: 'b.img', size: SLOT }, sectorSize: 4096 },
    mainComponent: MAIN,
    installed: { version: '1.0.0', sequenceNumber: 1, size: FACTORY.length },
    // The "reboot": leaves a mark the test turns into a power-on of the simulated board.
    rebootCommand: ['/usr/bin/touch', join(dir, 'reboot-requested')],
    stallTimeoutSeconds: 5,
    ...extra,
  };
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

async function offer(): Promise<void> {
  server.offer({
    actionId: 'act_1',
    version: '1.1.0',
    sequenceNumber: 2,
    envelope: await signedEnvelope({ sequenceNumber: 2, components: [{ id: MAIN, image: NEW }] }),
    payloads: [NEW],
  });
}

/** True once the detached reboot command has run (it is not awaited by the agent); consumes the mark. */
async function rebootRequested(): Promise<boolean> {
  const mark = join(dir, 'reboot-requested');
  for (let i = 0; i < 30; i++) {
    try {
      await access(mark);
      await rm(mark);
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}

/**
 * `agent run --once` from the config file until it no longer asks for a reboot, with `powerOn`
 * (the boot loader) between runs. Returns how many reboots were requested.
 */
async function runDevice(configFile: string, powerOn: () => Promise<void>): Promise<number> {
  let reboots = 0;
  for (let i = 0; i < 6; i++) {
    await runFileAgent(await loadAgentConfig(configFile), { until: 'idle' });
    if (!(await rebootRequested())) return reboots;
    reboots++;
    await powerOn();
  }
  throw new Error('too many reboots');
}

async function slotB(): Promise<Buffer> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile(join(dir, 'b.img'))).subarray(0, NEW.length);
}

describe.skipIf(skip)(
  'agent run from a config with bootControl.kind uboot',
  { timeout: 60_000 },
  () => {
    // The board's script uses `boot_part`: the config's variable names reach the adapter.
    const variables = { ...DEFAULT_UBOOT_VARIABLES, slot: 'boot_part' };

    async function board(extra: Record<string, unknown> = {}) {
      const { config: fwEnvConfig } = await createFileUBootEnv(dir, {
        boot_part: 'a',
        upgrade_available: '0',
        bootcount: '0',
        bootlimit: '3',
      });
      const env = new UBootEnv({ config: fwEnvConfig });
      const boots: string[] = [];
      const powerOn = async () => {
        const boot = simulateUBootBoot(await env.read(), ['a', 'b'], variables);
        await env.write(boot.saved);
        boots.push(`${boot.boots}:${boot.row.runs}`);
      };
      const file = await writeConfig({
        bootControl: {
          kind: 'uboot',
          fwEnvConfig: 'fw_env.config',
          variables: { slot: 'boot_part' },
        },
        ...extra,
      });
      return { env, boots, powerOn, file };
    }

    it('installs into slot b, U-Boot trial-boots it, the agent confirms and reports success', async () => {
      const b = await board();
      await offer();
      expect(await runDevice(b.file, b.powerOn)).toBe(1);
      expect(b.boots).toEqual(['b:bootcmd']);
      expect(server.final('act_1')).toMatchObject({ status: 'success' });
      const env = Object.fromEntries(await b.env.read());
      expect(env).toMatchObject({ boot_part: 'b', upgrade_available: '0', bootcount: '0' });
      expect(env.boot_slot).toBeUndefined();
      expect(sha256(await slotB())).toBe(sha256(NEW));
    });

    it('a failing healthCheckCommand rejects the trial: altbootcmd brings slot a back', async () => {
      const b = await board({ healthCheckCommand: ['/bin/false'], healthCheckTimeoutSeconds: 5 });
      await offer();
      expect(await runDevice(b.file, b.powerOn)).toBe(2);
      expect(b.boots).toEqual(['b:bootcmd', 'a:altbootcmd']);
      expect(server.final('act_1')).toMatchObject({
        status: 'failure',
        code: 'AGENT_HEALTH_CHECK_FAILED',
      });
      expect(Object.fromEntries(await b.env.read())).toMatchObject({
        boot_part: 'a',
        upgrade_available: '0',
      });
    });

    it('refuses to start on a missing fw_env.config or fw_printenv, with typed errors', async () => {
      await board();
      const missing = await writeConfig({
        bootControl: { kind: 'uboot', fwEnvConfig: 'no-such-fw_env.config' },
      });
      await expect(
        runFileAgent(await loadAgentConfig(missing), { until: 'idle' }),
      ).rejects.toMatchObject({
        code: 'AGENT_CONFIG_INVALID',
        message: expect.stringContaining('bootControl.fwEnvConfig'),
      });
      const noTool = await writeConfig({
        bootControl: {
          kind: 'uboot',
          fwEnvConfig: 'fw_env.config',
          printenv: join(dir, 'no-such-fw_printenv'),
        },
      });
      await expect(
        runFileAgent(await loadAgentConfig(noTool), { until: 'idle' }),
      ).rejects.toMatchObject({ code: 'AGENT_BOOT_TOOL_FAILED' });
      expect(server.requests).toEqual([]);
    });
  },
);

describe.skipIf(skip)(
  'agent run from a config with bootControl.kind grub',
  { timeout: 60_000 },
  () => {
    async function board(extra: Record<string, unknown> = {}) {
      const file = await createGrubEnv(join(dir, 'grubenv'), { saved_entry: 'a' });
      const env = new GrubEnv({ file });
      const boots: string[] = [];
      const powerOn = async () => {
        const boot = simulateGrubBoot(await env.read(), ['a', 'b'], DEFAULT_GRUB_VARIABLES);
        await env.write(boot.saved);
        boots.push(`${boot.boots}:${boot.case}`);
      };
      const config = await writeConfig({
        bootControl: { kind: 'grub', grubenv: 'grubenv', editenv: '/usr/bin/grub-editenv' },
        ...extra,
      });
      return { env, boots, powerOn, file: config };
    }

    it('installs into slot b, GRUB boots it once, the agent makes it saved_entry and reports success', async () => {
      const b = await board();
      await offer();
      expect(await runDevice(b.file, b.powerOn)).toBe(1);
      expect(b.boots).toEqual(['b:one-shot']);
      expect(server.final('act_1')).toMatchObject({ status: 'success' });
      const env = await b.env.read();
      // grub-editenv lists a cleared variable as `name=` (or not at all).
      expect([env.get('saved_entry'), env.get('next_entry') || null]).toEqual(['b', null]);
      expect(env.get('updraft_trial') || null).toBeNull();
      expect(sha256(await slotB())).toBe(sha256(NEW));
    });

    it('refuses to start when grubenv is a folder or a RAUC system.conf is missing', async () => {
      const folder = await writeConfig({ bootControl: { kind: 'grub', grubenv: '.' } });
      await expect(
        runFileAgent(await loadAgentConfig(folder), { until: 'idle' }),
      ).rejects.toMatchObject({
        code: 'AGENT_CONFIG_INVALID',
        details: { problems: [{ path: 'bootControl.grubenv' }] },
      });
      await createGrubEnv(join(dir, 'grubenv'), {});
      const noConf = await writeConfig({
        bootControl: { kind: 'grub', grubenv: 'grubenv' },
        components: [{ id: '814102', installer: 'rauc', systemConf: 'system.conf', maxSize: 4096 }],
      });
      await expect(
        runFileAgent(await loadAgentConfig(noConf), { until: 'idle' }),
      ).rejects.toMatchObject({
        code: 'AGENT_CONFIG_INVALID',
        details: { problems: [{ path: 'components[0].systemConf' }] },
      });
      expect(server.requests).toEqual([]);
    });

    it('a failing healthCheckCommand: the next boot goes back to saved_entry a', async () => {
      const b = await board({ healthCheckCommand: ['/bin/false'], healthCheckTimeoutSeconds: 5 });
      await offer();
      expect(await runDevice(b.file, b.powerOn)).toBe(2);
      expect(b.boots).toEqual(['b:one-shot', 'a:unconfirmed-trial']);
      expect(server.final('act_1')).toMatchObject({
        status: 'failure',
        code: 'AGENT_HEALTH_CHECK_FAILED',
      });
      expect(Object.fromEntries(await b.env.read())).toMatchObject({ saved_entry: 'a' });
    });
  },
);
