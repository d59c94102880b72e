import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BugError } from '@updraft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlotWriter } from '../../install/slot-writer.js';
import { FileSlot } from './file-slot.js';
import { FileStateStore } from './file-state-store.js';
import { JsonBootControl } from './json-boot-control.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-agent-file-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileSlot', () => {
  it('creates a file of the slot size and reads back what the slot writer wrote', async () => {
    const slot = await FileSlot.open({
      name: 'a',
      path: join(dir, 'a.img'),
      size: 10_000,
      sectorSize: 4096,
    });
    expect((await stat(join(dir, 'a.img'))).size).toBe(10_000);
    expect(slot.sectors.map((s) => s.size)).toEqual([4096, 4096, 1808]);
    const data = new Uint8Array(9_000).map((_, i) => i % 251);
    const checkpoints: number[] = [];
    const writer = new SlotWriter(slot, 0, async (end) => {
      checkpoints.push(end);
    });
    await writer.push(data.subarray(0, 5000));
    await writer.push(data.subarray(5000));
    await writer.finish();
    expect(checkpoints).toEqual([4096, 8192]);
    expect(await slot.read(0, 9000)).toEqual(data);
    await slot.close();
  });

  it('refuses out-of-range access and partial-sector erases as bugs', async () => {
    const slot = await FileSlot.open({
      name: 'a',
      path: join(dir, 'a.img'),
      size: 8192,
      sectorSize: 4096,
    });
    await expect(slot.read(8000, 500)).rejects.toBeInstanceOf(BugError);
    await expect(slot.write(8190, new Uint8Array(4))).rejects.toBeInstanceOf(BugError);
    await expect(slot.erase(100, 4096)).rejects.toBeInstanceOf(BugError);
    await expect(slot.erase(0, 4096)).resolves.toBeUndefined();
    await slot.close();
  });
});

describe('FileStateStore', () => {
  it('returns null before the first save, then the last record, leaving no temp files', async () => {
    const store = new FileStateStore(join(dir, 'journal'));
    expect(await store.load()).toBeNull();
    await store.save(new Uint8Array([1, 2, 3]));
    await store.save(new Uint8Array([4, 5]));
    expect(await store.load()).toEqual(new Uint8Array([4, 5]));
    expect(await readdir(dir)).toEqual(['journal']);
  });
});

describe('JsonBootControl', () => {
  async function open(trialBoots = 2) {
    const a = await FileSlot.open({
      name: 'a',
      path: join(dir, 'a'),
      size: 4096,
      sectorSize: 4096,
    });
    const b = await FileSlot.open({
      name: 'b',
      path: join(dir, 'b'),
      size: 4096,
      sectorSize: 4096,
    });
    return JsonBootControl.open({ statePath: join(dir, 'boot.json'), slots: [a, b], trialBoots });
  }

  it('boots a pending slot as a trial and keeps it once confirmed', async () => {
    let boot = await open();
    expect(await boot.boot()).toBe('a');
    expect((await boot.updateSlot()).name).toBe('b');
    await boot.markPending('b');
    boot = await open(); // state survives a restart
    expect(await boot.boot()).toBe('b');
    expect(await boot.status()).toEqual({
      booted: 'b',
      trial: true,
      pending: null,
      lastFailure: null,
    });
    await boot.confirm();
    boot = await open();
    expect(await boot.boot()).toBe('b');
    expect((await boot.status()).trial).toBe(false);
    expect((await boot.updateSlot()).name).toBe('a');
  });

  it('reverts an unconfirmed trial after its boot attempts', async () => {
    const boot = await open(2);
    await boot.boot();
    await boot.markPending('b');
    expect(await boot.boot()).toBe('b'); // attempt 1
    expect(await boot.boot()).toBe('b'); // attempt 2 (a power cut during the trial)
    expect(await boot.boot()).toBe('a'); // reverted
    expect(await boot.status()).toMatchObject({ trial: false, lastFailure: 'AGENT_BOOT_REVERTED' });
  });

  it('reverts at once after reject()', async () => {
    const boot = await open(3);
    await boot.boot();
    await boot.markPending('b');
    await boot.boot();
    await boot.reject();
    expect(await boot.boot()).toBe('a');
  });

  it('refuses a damaged state file with AGENT_BOOT_STATE_INVALID and changes nothing', async () => {
    await writeFile(join(dir, 'boot.json'), '{"format":1,"booted":"zz"}');
    await expect(open()).rejects.toMatchObject({ code: 'AGENT_BOOT_STATE_INVALID' });
    expect(await readFile(join(dir, 'boot.json'), 'utf8')).toBe('{"format":1,"booted":"zz"}');
  });
});
