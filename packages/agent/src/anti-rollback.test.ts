import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceApiServer } from './testing/device-api-server.js';
import { PowerCut } from './testing/fakes.js';
import { image, MAIN, sha256, TestDevice } from './testing/harness.js';
import { signedEnvelope } from './testing/signed-release.js';

// The anti-rollback floor lives in its own record (journal/rollback-floor.ts): losing or
// corrupting the journal must not let the service install an older image.

let server: DeviceApiServer;
beforeEach(async () => {
  server = await new DeviceApiServer().start();
});
afterEach(async () => {
  await server.close();
});

async function offer(actionId: string, sequenceNumber: number, img: Uint8Array): Promise<void> {
  server.offer({
    actionId,
    version: `1.${sequenceNumber}.0`,
    sequenceNumber,
    envelope: await signedEnvelope({ sequenceNumber, components: [{ id: MAIN, image: img }] }),
    payloads: [img],
  });
}

const V5 = image(12_000, 5);
const V3 = image(11_000, 3);

/** A device that installed sequence number 5. */
async function updatedDevice(): Promise<TestDevice> {
  const device = new TestDevice(server);
  await offer('act_5', 5, V5);
  await device.runToIdle();
  expect(server.final('act_5')?.status).toBe('success');
  return device;
}

describe('anti-rollback floor', () => {
  it('refuses an older sequence number after the journal was corrupted', async () => {
    const device = await updatedDevice();
    device.store.record = new Uint8Array([1, 2, 3]);
    await offer('act_3', 3, V3);
    await device.runToIdle();
    expect(server.final('act_3')).toMatchObject({ status: 'rejected', code: 'MANIFEST_ROLLBACK' });
    expect(device.running().subarray(0, V5.length)).toEqual(V5);
    // The check-in reports what the floor kept, not the factory state of the config.
    expect(server.checkIns.at(-1)).toMatchObject({
      components: [{ id: MAIN, version: '1.5.0', sequenceNumber: 5, digest: sha256(V5) }],
    });
  });

  it('refuses an older sequence number after the journal was deleted', async () => {
    const device = await updatedDevice();
    device.store.record = null;
    await offer('act_3', 3, V3);
    await device.runToIdle();
    expect(server.final('act_3')).toMatchObject({ status: 'rejected', code: 'MANIFEST_ROLLBACK' });
  });

  it('refuses to start when the record is missing but the journal shows updates', async () => {
    const device = await updatedDevice();
    device.floorStore.record = null;
    const before = server.requests.length;
    await expect(device.agent().run({ until: 'idle' })).rejects.toMatchObject({
      code: 'AGENT_ROLLBACK_FLOOR_MISSING',
    });
    expect(server.requests.length).toBe(before);
  });

  it('refuses to start when the record is corrupt', async () => {
    const device = await updatedDevice();
    device.floorStore.record = new Uint8Array(Buffer.from('updraft-rollback-floor-1\n00\n{}'));
    await expect(device.agent().run({ until: 'idle' })).rejects.toMatchObject({
      code: 'AGENT_ROLLBACK_FLOOR_CORRUPT',
    });
  });

  it('creates the record on a device that never updated', async () => {
    const device = new TestDevice(server);
    await device.runToIdle();
    expect(device.floorStore.record).not.toBeNull();
  });

  describe('a power cut around the confirm, with the journal lost as well', () => {
    /** The operation number (1-based) of `what` in a clean run of the update. */
    async function opOf(what: string): Promise<number> {
      const clean = new TestDevice(server);
      await offer('act_probe', 2, V3);
      await clean.runToIdle();
      return clean.faults.log.indexOf(what) + 1;
    }

    async function cutAt(op: number): Promise<TestDevice> {
      const device = new TestDevice(server);
      await offer('act_2', 2, V3);
      device.faults.cutAt = op;
      await expect(device.runToIdle()).rejects.toBeInstanceOf(PowerCut);
      device.faults.cutAt = Number.POSITIVE_INFINITY;
      device.store.record = null;
      server.withdraw();
      return device;
    }

    it('before the confirm: the reverted image does not raise the floor', async () => {
      const device = await cutAt(await opOf('confirm'));
      // The unconfirmed trial image is reverted by the bootloader over the next boots.
      for (let i = 0; i < 4; i++) {
        device.boot.powerOn();
        await device.agent().run({ until: 'idle' });
      }
      expect(device.boot.booted).toBe('a');
      expect(server.checkIns.at(-1)).toMatchObject({ components: [{ sequenceNumber: 1 }] });
      // The same release may be installed again: the floor did not move past what stayed.
      await offer('act_again', 2, V3);
      await device.runToIdle();
      expect(server.final('act_again')?.status).toBe('success');
    });

    it('after the confirm: the kept image raises the floor at the next boot', async () => {
      const device = await cutAt((await opOf('confirm')) + 1);
      device.boot.powerOn();
      await device.agent().run({ until: 'idle' });
      expect(device.boot).toMatchObject({ booted: 'b', trial: false });
      expect(server.checkIns.at(-1)).toMatchObject({ components: [{ sequenceNumber: 2 }] });
      await offer('act_replay', 2, V3);
      await device.runToIdle();
      expect(server.final('act_replay')).toMatchObject({
        status: 'rejected',
        code: 'MANIFEST_ROLLBACK',
      });
    });
  });
});
