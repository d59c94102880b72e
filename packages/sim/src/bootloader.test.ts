import { describe, expect, it } from 'vitest';
import { SimBootControl } from './adapters/sim-boot-control.js';
import { SimSwapBootControl } from './adapters/sim-swap-boot-control.js';
import { Bootloader, type BootResult, type ResetCause } from './bootloader.js';
import { buildImage } from './build-image.js';
import { createDeviceLayout, defaultLayoutSpec, type LayoutName } from './device-layout.js';
import type { AppBehaviour } from './image-format.js';
import { generateTestKey } from './power-cut-sweep.js';
import { SimDevice } from './sim-device.js';
import { imageTag, readTrailer } from './slot-trailer.js';

const key = generateTestKey();
const other = generateTestKey();
const img = (seq: number, behaviour: AppBehaviour = 'healthy', k = key) =>
  buildImage({ version: `1.${seq}.0`, sequenceNumber: seq, behaviour, size: 3000, key: k.signing });

const idle = { run: async () => {} };

function device(layout: LayoutName = 'ab-xip') {
  const d = new SimDevice({
    layout: defaultLayoutSpec(layout),
    trustedKeys: [key.trusted],
    initialImage: img(1),
    ...(layout === 'ab-factory' ? { factoryImage: img(0) } : {}),
    application: idle,
  });
  return d;
}

type Ok = Extract<BootResult, { ok: true }>;
function boot(d: SimDevice, cause: ResetCause = 'power-on'): BootResult {
  d.flash.powerOn();
  return d.bootloader.boot(cause);
}
function control(d: SimDevice, result: BootResult) {
  return new SimBootControl(d.bootloader, result as Ok, () => {});
}
async function install(bc: SimBootControl, image: Uint8Array) {
  const slot = await bc.updateSlot();
  await slot.erase(0, slot.size);
  const padded = new Uint8Array(Math.ceil(image.length / 8) * 8).fill(0xff);
  padded.set(image);
  await slot.write(0, padded);
  await bc.markPending(slot.name);
  return slot.name;
}

describe('bootloader scenarios', () => {
  it('boots the provisioned image confirmed', () => {
    const r = boot(device());
    expect(r).toMatchObject({ ok: true, slot: 'a', trial: false, swapType: 'none' });
  });

  it('trial-boots a pending image, keeps it once confirmed, then bumps the security counter', async () => {
    const d = device();
    const bc = control(d, boot(d));
    await install(bc, img(2));
    expect((await bc.status()).pending).toBe('b');
    const trial = boot(d, 'software');
    expect(trial).toMatchObject({ ok: true, slot: 'b', trial: true, swapType: 'test' });
    await control(d, trial).confirm();
    expect(d.bootloader.securityCounter()).toBe(1);
    const after = boot(d, 'software');
    expect(after).toMatchObject({ ok: true, slot: 'b', trial: false, swapType: 'none' });
    expect(d.bootloader.securityCounter()).toBe(2);
  });

  it('reverts a trial that ends in a software reset and reports SIM_BOOT_TRIAL_REVERTED', async () => {
    const d = device();
    await install(control(d, boot(d)), img(2, 'fails-health-check'));
    expect(boot(d, 'software')).toMatchObject({ slot: 'b', trial: true });
    const back = boot(d, 'software');
    expect(back).toMatchObject({ ok: true, slot: 'a', trial: false });
    expect((await control(d, back).status()).lastFailure).toBe('SIM_BOOT_TRIAL_REVERTED');
    expect(boot(d, 'power-on')).toMatchObject({ slot: 'a' });
  });

  it('repeats a trial cut by power loss, up to maxTrialBoots, then reverts', async () => {
    const d = device();
    await install(control(d, boot(d)), img(2));
    for (let i = 0; i < 3; i++)
      expect(boot(d, 'power-on')).toMatchObject({ slot: 'b', trial: true });
    expect(boot(d, 'power-on')).toMatchObject({ slot: 'a', trial: false });
  });

  it('refuses an image whose bits flipped after it was marked pending (SIM_IMAGE_DIGEST_MISMATCH)', async () => {
    const d = device();
    await install(control(d, boot(d)), img(2));
    const b = d.layout.slots[1]!;
    d.flash.flipBit(b.image.offset + 1000, 3);
    const r = boot(d, 'software');
    expect(r).toMatchObject({ ok: true, slot: 'a' });
    expect((await control(d, r).status()).lastFailure).toBe('SIM_IMAGE_DIGEST_MISMATCH');
  });

  it('refuses to mark pending an image signed by an untrusted key', async () => {
    const d = device();
    await expect(install(control(d, boot(d)), img(2, 'healthy', other))).rejects.toMatchObject({
      code: 'SIM_IMAGE_UNTRUSTED_KEY',
    });
  });

  it('refuses a rollback below the stored security counter', async () => {
    const d = device();
    const bc = control(d, boot(d));
    await install(bc, img(3));
    await control(d, boot(d, 'software')).confirm();
    const r = boot(d, 'software'); // counter is now 3, running b
    expect(d.bootloader.securityCounter()).toBe(3);
    await expect(install(control(d, r), img(2))).rejects.toMatchObject({
      code: 'SIM_IMAGE_ROLLBACK',
    });
  });

  it('never boots a new image that was fully written but not marked pending', async () => {
    const d = device();
    const bc = control(d, boot(d));
    const slot = await bc.updateSlot();
    await slot.erase(0, slot.size);
    const image = img(5);
    const padded = new Uint8Array(Math.ceil(image.length / 8) * 8).fill(0xff);
    padded.set(image);
    await slot.write(0, padded);
    expect(boot(d, 'software')).toMatchObject({ slot: 'a' });
  });

  it('ignores trailer records of an earlier image in the same slot', async () => {
    const d = device();
    await install(control(d, boot(d)), img(2));
    await control(d, boot(d, 'software')).confirm(); // b confirmed (tag of img 2)
    const onB = boot(d, 'software');
    await install(control(d, onB), img(3)); // into a
    await control(d, boot(d, 'software')).confirm(); // a confirmed
    const onA = boot(d, 'software');
    // Write a new image into b without erasing its trailer: the old IMAGE_OK names another tag.
    const slot = await control(d, onA).updateSlot();
    await slot.erase(0, slot.size);
    const image = img(4, 'crash-on-boot');
    const padded = new Uint8Array(Math.ceil(image.length / 8) * 8).fill(0xff);
    padded.set(image);
    await slot.write(0, padded);
    const b = d.layout.slots[1]!;
    const t = readTrailer(
      b.trailer!,
      imageTag((o, l) => b.image.read(o, l), b.image.size),
    );
    expect(t).toMatchObject({ magic: 'bad', imageOk: false });
    expect(boot(d, 'software')).toMatchObject({ slot: 'a', trial: false });
  });

  it('boots the factory image when no slot holds a bootable image (ab-factory)', () => {
    const d = device('ab-factory');
    d.layout.slots[0]!.image.erase();
    expect(boot(d)).toMatchObject({ ok: true, slot: 'factory', swapType: 'none' });
  });

  it('panics when no slot holds a bootable image and there is no factory slot', () => {
    const d = device('ab-xip');
    d.layout.slots[0]!.image.erase();
    expect(boot(d)).toMatchObject({
      ok: false,
      swapType: 'panic',
      code: 'SIM_BOOT_NO_BOOTABLE_IMAGE',
    });
  });

  it('skips a torn trailer record and counts it as an attempt', async () => {
    const d = device();
    await install(control(d, boot(d)), img(2));
    d.flash.planCuts([{ opIndex: d.flash.counters.ops + 1, mode: 'torn' }]); // COPY_DONE ok, ATTEMPT torn
    expect(() => boot(d, 'software')).toThrow('power cut');
    d.flash.powerOn();
    const b = d.layout.slots[1]!;
    const t = readTrailer(
      b.trailer!,
      imageTag((o, l) => b.image.read(o, l), b.image.size),
    );
    expect(t).toMatchObject({ magic: 'good', copyDone: true, attempts: 1 });
    expect(boot(d, 'power-on')).toMatchObject({ slot: 'b', trial: true });
  });

  it('uses a layout whose slots are not the trailer: the agent cannot reach it', () => {
    const layout = createDeviceLayout(defaultLayoutSpec('ab-xip'));
    const [a] = layout.slots;
    expect(a!.trailer!.area.offset).toBe(a!.image.offset + a!.image.size);
    expect(new Bootloader(layout, { trustedKeys: [] }).boot('power-on')).toMatchObject({
      ok: false,
    });
  });
});

describe('bootloader, swap-scratch layout', () => {
  function swapDevice() {
    return new SimDevice({
      layout: defaultLayoutSpec('swap-scratch'),
      trustedKeys: [key.trusted],
      initialImage: img(1),
      application: idle,
    });
  }
  const primaryVersion = (d: SimDevice) => (boot(d, 'software') as Ok).image.versionString;

  it('swaps a pending image in for a trial, and swaps it back when the trial fails', async () => {
    const d = swapDevice();
    const r0 = boot(d);
    const bc = new SimSwapBootControl(d.bootloader, r0 as Ok, () => {});
    expect(await bc.status()).toMatchObject({ booted: 'a', trial: false });
    const target = await bc.updateSlot();
    expect(target.name).toBe('b');
    await target.erase(0, target.size);
    const image = img(2, 'fails-health-check');
    const padded = new Uint8Array(Math.ceil(image.length / 8) * 8).fill(0xff);
    padded.set(image);
    await target.write(0, padded);
    await bc.markPending('b');
    const trial = boot(d, 'software');
    expect(trial).toMatchObject({ ok: true, slot: 'primary', trial: true, swapType: 'test' });
    const onTrial = new SimSwapBootControl(d.bootloader, trial as Ok, () => {});
    expect(await onTrial.status()).toMatchObject({ booted: 'b', trial: true });
    const back = boot(d, 'software');
    expect(back).toMatchObject({ ok: true, slot: 'primary', trial: false, swapType: 'revert' });
    expect((back as Ok).image.versionString).toBe('1.1.0');
    const after = new SimSwapBootControl(d.bootloader, back as Ok, () => {});
    expect(await after.status()).toMatchObject({
      booted: 'a',
      lastFailure: 'SIM_BOOT_TRIAL_REVERTED',
    });
    expect(d.bootloader.completedSwaps()).toBe(2);
  });

  it('finishes a swap that a power cut interrupted, with both images whole', async () => {
    const d = swapDevice();
    const bc = new SimSwapBootControl(d.bootloader, boot(d) as Ok, () => {});
    const target = await bc.updateSlot();
    await target.erase(0, target.size);
    const image = img(2);
    const padded = new Uint8Array(Math.ceil(image.length / 8) * 8).fill(0xff);
    padded.set(image);
    await target.write(0, padded);
    await bc.markPending('b');
    d.flash.planCuts([{ opIndex: d.flash.counters.ops + 7, mode: 'torn' }]);
    expect(() => boot(d, 'software')).toThrow('power cut');
    expect(primaryVersion(d)).toBe('1.2.0');
    expect(d.bootloader.completedSwaps()).toBe(1);
    expect(d.boots).toHaveLength(0);
  });
});
