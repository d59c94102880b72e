import { BugError } from '@updraft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeJournal } from './journal/journal.js';
import { DeviceApiServer, type TestRelease } from './testing/device-api-server.js';
import type { FakeClock } from './testing/fakes.js';
import { CONFIG_ID, image, MAIN, RADIO_ID, sha256, TestDevice } from './testing/harness.js';
import { signedEnvelope } from './testing/signed-release.js';

let server: DeviceApiServer;
beforeEach(async () => {
  server = await new DeviceApiServer().start();
});
afterEach(async () => {
  await server.close();
});

const NEW = image(30_001, 2);

async function release(over: Partial<TestRelease> = {}, seq = 2, img = NEW): Promise<TestRelease> {
  return {
    actionId: 'act_1',
    version: '1.1.0',
    sequenceNumber: seq,
    envelope: await signedEnvelope({ sequenceNumber: seq, components: [{ id: MAIN, image: img }] }),
    payloads: [img],
    ...over,
  };
}

const HAPPY = [
  'CheckIn',
  'VerifyManifest',
  'Download',
  'InstallWait',
  'ArtifactInstall',
  'ArtifactReboot',
  'ArtifactVerifyReboot',
  'ArtifactCommit',
  'Cleanup',
  'Idle',
];

describe('agent', () => {
  it('polls and stays idle when the service has nothing', async () => {
    const device = new TestDevice(server);
    await device.runToIdle();
    expect(device.chain()).toEqual(['CheckIn', 'Idle']);
    expect(server.checkIns).toEqual([
      {
        components: [
          { id: MAIN, version: '1.0.0', sequenceNumber: 1, digest: sha256(device.factory) },
        ],
        attributes: {},
      },
    ]);
    expect(device.boot.rebootRequests).toBe(0);
  });

  it('installs a good release: download, write, trial boot, confirm, report success', async () => {
    const device = new TestDevice(server);
    server.offer(await release());
    await device.runToIdle();
    expect(device.chain()).toEqual(HAPPY);
    expect(server.statuses('act_1')).toEqual([
      'downloading',
      'downloaded',
      'installing',
      'rebooting',
      'success',
    ]);
    // Progress at each checkpoint (every 2 sectors of the 30 001-byte image), rising, below 100.
    expect(server.progress('act_1')).toEqual([0, 27, 54, 81]);
    expect(device.boot.booted).toBe('b');
    expect(device.boot.trial).toBe(false);
    expect(device.running().subarray(0, NEW.length)).toEqual(NEW);
    // The active slot was never written.
    expect(device.slots.a.writes).toBe(0);
    const journal = await device.agent().loadJournal();
    expect(journal.installed[0]).toMatchObject({ version: '1.1.0', sequenceNumber: 2 });
    expect(journal.action).toBeNull();
    // The next check-in reports the new version and does not install again.
    await device.runToIdle();
    expect(server.checkIns.at(-1)).toMatchObject({
      components: [{ id: MAIN, version: '1.1.0', sequenceNumber: 2, digest: sha256(NEW) }],
    });
    expect(device.boot.rebootRequests).toBe(1);
  });

  it('reports failure with the bootloader code when the new image does not boot', async () => {
    const device = new TestDevice(server);
    device.boot.bootable.set('b', false);
    server.offer(await release());
    await device.runToIdle();
    expect(device.boot.booted).toBe('a');
    expect(device.running().subarray(0, device.factory.length)).toEqual(device.factory);
    expect(server.final('act_1')).toMatchObject({
      status: 'failure',
      code: 'BOOT_TRIAL_EXHAUSTED',
    });
    expect(device.chain()).toContain('ArtifactFailure');
    const journal = await device.agent().loadJournal();
    expect(journal.installed[0]?.sequenceNumber).toBe(1);
  });

  it('reverts a new image that fails its health check', async () => {
    let checks = 0;
    const device = new TestDevice(server, {
      policy: {
        async healthCheck() {
          checks += 1;
          return { ok: false, reason: 'sensor bus dead' };
        },
      },
    });
    server.offer(await release());
    await device.runToIdle();
    expect(checks).toBe(1);
    expect(device.chain()).toEqual([
      'CheckIn',
      'VerifyManifest',
      'Download',
      'InstallWait',
      'ArtifactInstall',
      'ArtifactReboot',
      'ArtifactVerifyReboot',
      'ArtifactRollback',
      'ArtifactRollbackReboot',
      'ArtifactFailure',
      'Cleanup',
      'Idle',
    ]);
    expect(device.boot.booted).toBe('a');
    expect(device.boot.trial).toBe(false);
    expect(server.final('act_1')).toMatchObject({
      status: 'failure',
      code: 'AGENT_HEALTH_CHECK_FAILED',
    });
  });

  it('treats a health check that never answers as a failure', async () => {
    const device = new TestDevice(server, {
      policy: { healthCheck: () => new Promise(() => {}) },
      options: { healthCheckTimeoutMs: 200 },
    });
    server.offer(await release());
    await device.runToIdle();
    expect(device.boot.booted).toBe('a');
    expect(server.final('act_1')?.code).toBe('AGENT_HEALTH_CHECK_FAILED');
  });

  it('downloads only, without installing, when the action says so', async () => {
    const device = new TestDevice(server);
    server.offer(await release({ downloadOnly: true }));
    await device.runToIdle();
    expect(server.statuses('act_1')).toEqual(['downloading', 'downloaded']);
    expect(device.boot.pending).toBeNull();
    expect(device.boot.booted).toBe('a');
    expect(device.slots.b.data.subarray(0, NEW.length)).toEqual(NEW);
  });

  it('defers installing while canInstall() says busy, then installs', async () => {
    let busy = 3;
    const device = new TestDevice(server, {
      policy: {
        async canInstall() {
          return busy-- > 0 ? { ok: false, reason: 'job-in-progress' } : { ok: true };
        },
      },
    });
    server.offer(await release());
    await device.runToIdle();
    expect(device.chain().filter((s) => s === 'InstallWait')).toHaveLength(4);
    expect(device.boot.booted).toBe('b');
    expect(server.final('act_1')?.status).toBe('success');
  });

  it('waits for the maintenance window before installing', async () => {
    const device = new TestDevice(server);
    const clock = device.clock as FakeClock;
    const start = new Date(clock.time + 3 * 3600_000).toISOString();
    const end = new Date(clock.time + 4 * 3600_000).toISOString();
    server.offer(await release({ maintenanceWindow: { start, end } }));
    await device.runToIdle();
    expect(server.statuses('act_1')).toEqual([
      'downloading',
      'downloaded',
      'installing',
      'rebooting',
      'success',
    ]);
    // Installed only once the clock reached the window.
    expect(clock.time).toBeGreaterThanOrEqual(Date.parse(start));
    expect(device.boot.booted).toBe('b');
  });

  it('acknowledges a cancel request without touching flash', async () => {
    const device = new TestDevice(server);
    server.offer(await release({ cancelRequested: true }));
    await device.runToIdle();
    expect(server.statuses('act_1')).toEqual(['canceled']);
    expect(device.slots.b.writes).toBe(0);
  });

  it('honours a cancel request that arrives while the install waits, installing nothing', async () => {
    const device = new TestDevice(server, {
      policy: {
        async canInstall() {
          server.requestCancel();
          return { ok: false, reason: 'battery-low' };
        },
      },
    });
    server.offer(await release());
    await device.runToIdle();
    expect(server.statuses('act_1')).toEqual(['downloading', 'downloaded', 'canceled']);
    expect(device.chain()).toContain('Cleanup');
    expect(device.boot.pending).toBeNull();
    expect(device.boot.booted).toBe('a');
    expect(device.slots.a.writes).toBe(0);
  });

  it('backs off with full jitter after failed check-ins, then honours the poll interval', async () => {
    const device = new TestDevice(server, {
      options: { backoffBaseMs: 1000, backoffCapMs: 60_000 },
    });
    const clock = device.clock as FakeClock;
    server.faults.failCheckIns = 4;
    server.pollIntervalSeconds = 120;
    const stop = new AbortController();
    // Run the daemon loop until it has checked in successfully twice (stopped at its next wait).
    clock.onSleep = () => {
      if (server.checkIns.length >= 2) stop.abort();
    };
    expect(await device.agent().run({ signal: stop.signal })).toEqual({ halted: 'stopped' });
    // Four refused check-ins, then two answered ones, each followed by a wait in Idle; the stopped
    // wait still ticks into CheckIn, whose handler the stopped loop never runs.
    expect(device.chain()).toEqual([
      ...Array.from({ length: 6 }, () => ['CheckIn', 'Idle']).flat(),
      'CheckIn',
    ]);
    expect(server.requests).toHaveLength(6);
    expect(device.notices.filter((n) => n.type === 'check-in')).toHaveLength(2);
    // slept: 0 (first poll), then 4 backoff delays, then the poll interval.
    const [first, ...rest] = clock.slept;
    expect(first).toBe(0);
    const backoffs = rest.slice(0, 4);
    backoffs.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(Math.min(60_000, 1000 * 2 ** (i + 1)));
    });
    expect(rest[4]).toBe(120_000);
  });

  it('waits at least the Retry-After a busy service asked for before checking in again', async () => {
    const device = new TestDevice(server, {
      options: { backoffBaseMs: 1000, backoffCapMs: 60_000 },
    });
    const clock = device.clock as FakeClock;
    server.faults.failCheckIns = 2;
    server.faults.retryAfterSeconds = 90;
    const stop = new AbortController();
    clock.onSleep = () => {
      if (server.checkIns.length >= 1) stop.abort();
    };
    expect(await device.agent().run({ signal: stop.signal })).toEqual({ halted: 'stopped' });
    expect(server.requests).toHaveLength(3);
    // slept: 0 (first poll), then two waits of at least 90 s (the jitter alone stays below 4 s).
    const [first, ...rest] = clock.slept;
    expect(first).toBe(0);
    expect(rest.slice(0, 2)).toEqual([90_000, 90_000]);
  });

  it('stops when asked while waiting for the next poll', async () => {
    const device = new TestDevice(server);
    const clock = device.clock as FakeClock;
    server.pollIntervalSeconds = 3600;
    // The hour-long wait ends only through the stop signal: if the agent did not pass it on,
    // the run would never return.
    clock.hangFromMs = 3600_000;
    const stop = new AbortController();
    clock.onSleep = (ms) => {
      if (ms === 3600_000) queueMicrotask(() => stop.abort());
    };
    expect(await device.agent().run({ signal: stop.signal })).toEqual({ halted: 'stopped' });
    expect(server.checkIns).toHaveLength(1);
  });

  it('abandons an update whose journal is written in a loop (StateLoopDetected)', async () => {
    const device = new TestDevice(server, { options: { maxStateWrites: 12 } });
    // A broken bootloader that never boots the pending slot: the agent would reboot forever.
    device.boot.powerOn = () => {};
    server.offer(await release());
    await device.runToIdle(50);
    expect(server.final('act_1')).toMatchObject({ status: 'failure', code: 'AGENT_STATE_LOOP' });
    expect(device.boot.pending).toBeNull();
    expect(device.boot.booted).toBe('a');
  });

  it('stops with a BugError on a journal whose Download step has no verified plan', async () => {
    const device = new TestDevice(server);
    server.offer(await release());
    const journal = await device.agent().loadJournal();
    const action = {
      id: 'act_1',
      state: 'assigned',
      cancelRequested: false,
      downloadOnly: false,
      maintenanceWindow: null,
      release: { id: 'rel', version: '1.1.0', sequenceNumber: 2 },
      envelopeUrl: '/x',
      payloads: [],
    };
    device.store.record = encodeJournal({
      ...journal,
      state: 'Download',
      action: {
        action,
        plan: null,
        allOrNothing: true,
        targetSlot: null,
        previousSlot: null,
        applied: [],
        error: null,
        reported: ['downloading'],
        attempts: 0,
      },
    });
    // An empty plan must not pass for an update that installed nothing.
    await expect(device.agent().run({ until: 'idle' })).rejects.toBeInstanceOf(BugError);
    expect(server.feedback).toHaveLength(0);
  });

  it('starts over when the journal is corrupt', async () => {
    const device = new TestDevice(server);
    device.store.record = new Uint8Array([1, 2, 3]);
    await device.runToIdle();
    expect(device.chain()).toEqual(['CheckIn', 'Idle']);
  });
});

describe('multi-component updates', () => {
  const RADIO = image(9000, 3);
  const CONFIG = image(700, 4);

  async function multi(): Promise<TestRelease> {
    return {
      actionId: 'act_m',
      version: '2.0.0',
      sequenceNumber: 5,
      envelope: await signedEnvelope({
        sequenceNumber: 5,
        components: [
          { id: MAIN, image: NEW },
          { id: RADIO_ID, image: RADIO },
          { id: CONFIG_ID, image: CONFIG },
        ],
      }),
      payloads: [NEW, RADIO, CONFIG],
    };
  }

  it('updates every component through its own handler', async () => {
    const device = new TestDevice(server, { components: [RADIO_ID, CONFIG_ID] });
    server.offer(await multi());
    await device.runToIdle();
    expect(server.final('act_m')?.status).toBe('success');
    expect(device.boot.booted).toBe('b');
    const [radio, config] = device.components;
    expect(radio?.active.subarray(0, RADIO.length)).toEqual(RADIO);
    expect(config?.active.subarray(0, CONFIG.length)).toEqual(CONFIG);
    expect(radio?.committed).toBe(1);
    const journal = await device.agent().loadJournal();
    expect(journal.installed.map((c) => [c.id, c.sequenceNumber])).toEqual([
      [MAIN, 5],
      [RADIO_ID, 5],
      [CONFIG_ID, 5],
    ]);
  });

  it('reverts every component when the main image fails (all-or-nothing)', async () => {
    const device = new TestDevice(server, { components: [RADIO_ID, CONFIG_ID] });
    device.boot.bootable.set('b', false);
    const before = device.components.map((c) => c.active.slice());
    server.offer(await multi());
    await device.runToIdle();
    expect(server.final('act_m')?.status).toBe('failure');
    expect(device.boot.booted).toBe('a');
    expect(device.components.map((c) => c.active)).toEqual(before);
  });

  it('rejects a manifest naming a component the device does not have', async () => {
    const device = new TestDevice(server, { components: [RADIO_ID] });
    server.offer(await multi());
    await device.runToIdle();
    expect(server.final('act_m')).toMatchObject({
      status: 'rejected',
      // Core's SUIT processor refuses it first: the device listed only the components it has.
      code: 'MANIFEST_COMPONENT_UNKNOWN',
    });
    expect(device.slots.b.writes).toBe(0);
  });
});
