import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Slot } from '../../ports/slot.js';
import { runBootControlContract } from '../../testing/boot-control.contract.js';
import { createFileUBootEnv, missingTools } from '../../testing/boot-env-fixtures.js';
import { FileSlot, type FileSlotOptions } from '../file/file-slot.js';
import { simulateUBootBoot, UBOOT_BOOT_DECISION } from './uboot-boot-script.js';
import { UBootEnv } from './uboot-env.js';
import { UBootEnvBootControl } from './uboot-env-boot-control.js';

// Against Debian's u-boot-tools (libubootenv's fw_printenv/fw_setenv, mkenvimage) on a
// file-backed redundant environment. Outside CI a machine without them skips with a message;
// in CI a missing tool fails every test here.
const inCi = process.env.CI === 'true';
const unavailable = await missingTools(['fw_printenv', 'fw_setenv', 'mkenvimage']);
const skip = unavailable !== null && !inCi;
if (skip) console.warn(`U-Boot environment tests skipped: ${unavailable} (CI would fail here)`);

const dirs: string[] = [];
const opened: FileSlot[] = [];
async function openSlot(options: FileSlotOptions): Promise<FileSlot> {
  const slot = await FileSlot.open(options);
  opened.push(slot);
  return slot;
}
async function freshDir(): Promise<string> {
  if (unavailable !== null) throw new Error(`U-Boot environment tests cannot run: ${unavailable}`);
  const dir = await mkdtemp(join(tmpdir(), 'updraft-uboot-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const slot of opened) await slot.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const FACTORY = { boot_slot: 'a', upgrade_available: '0', bootcount: '0', bootlimit: '3' };

async function device(initial: Record<string, string> = FACTORY) {
  const dir = await freshDir();
  const { config } = await createFileUBootEnv(dir, initial);
  const slots = [
    await openSlot({ name: 'a', path: join(dir, 'a.img'), size: 8192, sectorSize: 4096 }),
    await openSlot({ name: 'b', path: join(dir, 'b.img'), size: 8192, sectorSize: 4096 }),
  ] as const;
  const env = new UBootEnv({ config });
  const open = () => new UBootEnvBootControl({ config, slots });
  /** A power-on: the simulated boot script decides from the env and saves what U-Boot saves. */
  const powerOn = async () => {
    const boot = simulateUBootBoot(await env.read(), ['a', 'b']);
    await env.write(boot.saved);
    return { boot, control: open() };
  };
  return { dir, config, env, open, powerOn };
}

async function writeImage(slot: Slot): Promise<void> {
  await slot.erase(0, 4096);
  await slot.write(0, new Uint8Array(1000).fill(7));
}

runBootControlContract({
  describe: (name, body) => describe.skipIf(skip)(name, body),
  it,
  name: 'UBootEnvBootControl (fw_printenv/fw_setenv, simulated boot script)',
  create: async () => {
    const d = await device();
    return {
      control: d.open(),
      install: writeImage,
      reboot: async () => (await d.powerOn()).control,
    };
  },
});

describe('the U-Boot boot script decision (pure)', () => {
  const env = (vars: Record<string, string>) => new Map(Object.entries(vars));

  it('boots the confirmed slot and counts nothing when no update is on trial', () => {
    const boot = simulateUBootBoot(env({ ...FACTORY, bootcount: '9' }), ['a', 'b']);
    expect([boot.boots, boot.row.runs, boot.saved]).toEqual(['a', 'bootcmd', {}]);
  });

  it('counts a trial boot and boots the new slot while bootcount stays within bootlimit', () => {
    const boot = simulateUBootBoot(
      env({ ...FACTORY, boot_slot: 'b', upgrade_available: '1', bootcount: '2' }),
      ['a', 'b'],
    );
    expect([boot.boots, boot.row.runs, boot.saved]).toEqual(['b', 'bootcmd', { bootcount: '3' }]);
  });

  it('runs altbootcmd once bootcount exceeds bootlimit: back to the other slot, reason recorded', () => {
    const boot = simulateUBootBoot(
      env({ ...FACTORY, boot_slot: 'b', upgrade_available: '1', bootcount: '3' }),
      ['a', 'b'],
    );
    expect(boot.boots).toBe('a');
    expect(boot.row.runs).toBe('altbootcmd');
    expect(boot.saved).toEqual({
      bootcount: '4',
      boot_slot: 'a',
      upgrade_available: '0',
      updraft_failure: 'BOOT_TRIAL_EXHAUSTED',
    });
  });

  it('never reverts without a bootlimit (U-Boot reads 0 or unset as no limit)', () => {
    const boot = simulateUBootBoot(
      env({ boot_slot: 'b', upgrade_available: '1', bootcount: '50' }),
      ['a', 'b'],
    );
    expect([boot.boots, boot.row.runs]).toEqual(['b', 'bootcmd']);
  });

  it('is the table docs/agent.md shows, row by row and in order', async () => {
    const doc = await readFile(new URL('../../../../../docs/agent.md', import.meta.url), 'utf8');
    const rows = doc
      .split('\n')
      .filter((line) => UBOOT_BOOT_DECISION.some((r) => line.endsWith(`| ${r.why} |`)));
    expect(rows.map((line) => /\| `(bootcmd|altbootcmd)` \|/.exec(line)?.[1])).toEqual(
      UBOOT_BOOT_DECISION.map((r) => r.runs),
    );
    expect(
      rows.map((line) => UBOOT_BOOT_DECISION.find((r) => line.endsWith(`| ${r.why} |`))),
    ).toEqual(UBOOT_BOOT_DECISION);
  });

  it('has one row per case, every row reachable', () => {
    const seen = new Set<string>();
    for (const upgrade of ['0', '1']) {
      for (const bootcount of ['0', '3']) {
        const boot = simulateUBootBoot(env({ ...FACTORY, upgrade_available: upgrade, bootcount }), [
          'a',
          'b',
        ]);
        seen.add(boot.row.why);
      }
    }
    expect(seen.size).toBe(UBOOT_BOOT_DECISION.length);
  });
});

describe.skipIf(skip)('UBootEnvBootControl with the simulated boot script', () => {
  it('trial-boots the new slot, counts the boot, and keeps it once confirmed', async () => {
    const d = await device();
    const control = d.open();
    await control.markPending('b');
    expect(Object.fromEntries(await d.env.read())).toEqual({
      ...FACTORY,
      boot_slot: 'b',
      upgrade_available: '1',
      bootcount: '0',
    });
    expect(await control.status()).toEqual({
      booted: 'a',
      trial: false,
      pending: 'b',
      lastFailure: null,
    });
    const first = await d.powerOn();
    expect([first.boot.boots, first.boot.row.runs]).toEqual(['b', 'bootcmd']);
    expect((await d.env.read()).get('bootcount')).toBe('1');
    expect(await first.control.status()).toMatchObject({ booted: 'b', trial: true });
    await first.control.confirm();
    const env = await d.env.read();
    expect([env.get('upgrade_available'), env.get('bootcount')]).toEqual(['0', '0']);
    for (let i = 0; i < 5; i++) {
      const again = await d.powerOn();
      expect(again.boot.boots).toBe('b');
      expect(await again.control.status()).toEqual({
        booted: 'b',
        trial: false,
        pending: null,
        lastFailure: null,
      });
    }
  });

  it('reverts a trial that fails bootlimit times: altbootcmd on the next boot, BOOT_TRIAL_EXHAUSTED', async () => {
    const d = await device();
    await d.open().markPending('b');
    // bootlimit=3: three trial boots of b that never confirm (a crash, a hang, a watchdog).
    for (let n = 1; n <= 3; n++) {
      const { boot, control } = await d.powerOn();
      expect([boot.boots, boot.row.runs]).toEqual(['b', 'bootcmd']);
      expect((await d.env.read()).get('bootcount')).toBe(String(n));
      expect(await control.status()).toMatchObject({ booted: 'b', trial: true });
    }
    const { boot, control } = await d.powerOn();
    expect([boot.boots, boot.row.runs]).toEqual(['a', 'altbootcmd']);
    expect(await control.status()).toEqual({
      booted: 'a',
      trial: false,
      pending: null,
      lastFailure: 'BOOT_TRIAL_EXHAUSTED',
    });
    expect((await control.updateSlot()).name).toBe('b');
    // Confirming the old image (the agent after reporting the failure) clears the reason.
    await control.confirm();
    expect((await control.status()).lastFailure).toBeNull();
  });

  it('reject() makes the very next boot run altbootcmd', async () => {
    const d = await device();
    await d.open().markPending('b');
    const { control } = await d.powerOn();
    await control.reject!();
    expect((await d.env.read()).get('bootcount')).toBe('3');
    const next = await d.powerOn();
    expect([next.boot.boots, next.boot.row.runs]).toEqual(['a', 'altbootcmd']);
  });

  it('writes one copy of the redundant environment per call: a torn write leaves the old state', async () => {
    const dir = await freshDir();
    const { config, files } = await createFileUBootEnv(dir, FACTORY);
    const slots = [
      await openSlot({ name: 'a', path: join(dir, 'a.img'), size: 4096, sectorSize: 4096 }),
      await openSlot({ name: 'b', path: join(dir, 'b.img'), size: 4096, sectorSize: 4096 }),
    ] as const;
    const control = new UBootEnvBootControl({ config, slots });
    const before = await Promise.all(files.map((f) => readFile(f)));
    await control.markPending('b');
    const after = await Promise.all(files.map((f) => readFile(f)));
    const changed = [0, 1].filter((i) => !before[i]!.equals(after[i]!));
    expect(changed).toHaveLength(1);
    expect((await control.status()).pending).toBe('b');
    // A power cut in the middle of that write: its CRC no longer matches, the tools fall back to
    // the other copy, which still holds the state before markPending.
    const torn = Buffer.from(after[changed[0]!]!);
    torn.fill(0xff, 5, 40);
    await writeFile(files[changed[0]!]!, torn);
    expect(await control.status()).toEqual({
      booted: 'a',
      trial: false,
      pending: null,
      lastFailure: null,
    });
  });

  it('uses the board script’s own variable names when configured', async () => {
    const d = await device({
      boot_part: 'B',
      upgrade_available: '0',
      bootcount: '0',
      bootlimit: '1',
    });
    const slots = [
      await openSlot({ name: 'A', path: join(d.dir, 'A.img'), size: 4096, sectorSize: 4096 }),
      await openSlot({ name: 'B', path: join(d.dir, 'B.img'), size: 4096, sectorSize: 4096 }),
    ] as const;
    const control = new UBootEnvBootControl({
      config: d.config,
      slots,
      variables: { slot: 'boot_part', failure: 'update_failed' },
    });
    expect((await control.status()).booted).toBe('B');
    await control.markPending('A');
    expect((await d.env.read()).get('boot_part')).toBe('A');
    expect(await control.status()).toMatchObject({ booted: 'B', pending: 'A' });
  });

  it('refuses an environment whose slot variable names no known slot (AGENT_BOOT_STATE_INVALID)', async () => {
    const d = await device({ ...FACTORY, boot_slot: 'c' });
    await expect(d.open().status()).rejects.toMatchObject({ code: 'AGENT_BOOT_STATE_INVALID' });
    const e = await device({ ...FACTORY, bootcount: 'x1' });
    await expect(e.open().status()).rejects.toMatchObject({ code: 'AGENT_BOOT_STATE_INVALID' });
  });

  it('reports a failing or missing tool as AGENT_BOOT_TOOL_FAILED with its exit code and stderr', async () => {
    const d = await device();
    const slots = [
      await openSlot({ name: 'a', path: join(d.dir, 'a.img'), size: 4096, sectorSize: 4096 }),
      await openSlot({ name: 'b', path: join(d.dir, 'b.img'), size: 4096, sectorSize: 4096 }),
    ] as const;
    const missing = new UBootEnvBootControl({
      config: d.config,
      slots,
      printenv: join(d.dir, 'no-such-fw_printenv'),
    });
    await expect(missing.status()).rejects.toMatchObject({
      code: 'AGENT_BOOT_TOOL_FAILED',
      message: expect.stringContaining('not installed'),
    });
    const badConfig = join(d.dir, 'broken.config');
    await writeFile(badConfig, `${join(d.dir, 'nowhere', 'env')} 0x0 0x4000\n`);
    const broken = new UBootEnvBootControl({ config: badConfig, slots });
    const error = await broken.status().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'AGENT_BOOT_TOOL_FAILED' });
    expect((error as { details: { exitCode: number } }).details.exitCode).not.toBe(0);
    expect((error as { details: { stderr: string } }).details.stderr).not.toBe('');
  });
});
