import type { ActionType } from '@updraft/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { Policy } from './ports/policy.js';
import { DeviceApiServer, type TestRelease } from './testing/device-api-server.js';
import { FakeClock } from './testing/fakes.js';
import { image, MAIN, TestDevice } from './testing/harness.js';
import { signedEnvelope } from './testing/signed-release.js';

// Action types and recurring maintenance windows, through the real HTTP device API (the test
// service) on an injected clock: every wait is virtual, and the time of each report is the
// clock's reading when the service received it.

const HOUR = 3600_000;
let server: DeviceApiServer;
let clock: FakeClock;

afterEach(async () => {
  await server.close();
});

async function setUp(over: Partial<TestRelease>): Promise<void> {
  clock = new FakeClock(); // 2026-11-22T00:00:00Z, a Sunday
  server = await new DeviceApiServer({ clock }).start();
  server.pollIntervalSeconds = 60;
  const img = image(9_000, 4);
  server.offer({
    actionId: 'act_t',
    version: '1.1.0',
    sequenceNumber: 2,
    envelope: await signedEnvelope({ sequenceNumber: 2, components: [{ id: MAIN, image: img }] }),
    payloads: [img],
    ...over,
  });
}

function reportedAt(status: string): number | undefined {
  return server.feedback.find((f) => f.actionId === 'act_t' && f.report.status === status)?.at;
}

const busy = (asked: number[]): Policy => ({
  async canInstall() {
    asked.push(clock.now());
    return { ok: false, reason: 'busy' };
  },
});

describe('recurring maintenance window', () => {
  it('downloads at once but installs only when the next window opens (03:00 Berlin = 02:00Z)', async () => {
    await setUp({
      recurringWindow: { cron: '0 3 * * *', durationSeconds: 1800, timeZone: 'Europe/Berlin' },
    });
    const device = new TestDevice(server, { clock });
    await device.runToIdle();
    const t0 = Date.parse('2026-11-22T00:00:00Z');
    expect(reportedAt('downloaded')).toBe(t0);
    const installing = reportedAt('installing') as number;
    expect(installing).toBeGreaterThanOrEqual(Date.parse('2026-11-22T02:00:00Z'));
    expect(installing).toBeLessThan(Date.parse('2026-11-22T02:30:00Z'));
    expect(server.statuses('act_t').at(-1)).toBe('success');
    // Waited in poll-interval steps (a check-in each), not in a zero-wait loop.
    const polls = clock.slept.filter((ms) => ms > 0);
    expect(polls.length).toBeGreaterThanOrEqual(120);
    expect(polls.length).toBeLessThan(200);
  });

  it('holds a forced action for its window too', async () => {
    await setUp({
      type: 'forced',
      recurringWindow: { cron: '0 5 * * *', durationSeconds: 600, timeZone: 'UTC' },
    });
    const asked: number[] = [];
    const device = new TestDevice(server, { clock, policy: busy(asked) });
    await device.runToIdle();
    expect(reportedAt('installing')).toBe(Date.parse('2026-11-22T05:00:00Z'));
    expect(asked).toEqual([]);
  });

  it('fails the action when the window cannot be evaluated, installing nothing', async () => {
    await setUp({
      recurringWindow: { cron: '0 5 * * *', durationSeconds: 600, timeZone: 'Mars/Olympus' },
    });
    const device = new TestDevice(server, { clock });
    await device.runToIdle();
    expect(server.statuses('act_t')).not.toContain('installing');
    const failure = server.feedback.find((f) => f.report.status === 'failure');
    expect(failure?.report.code).toBe('SCHEDULE_TIME_ZONE_INVALID');
  });
});

describe('action types', () => {
  async function runWithBusyPolicy(
    type: ActionType,
    over: Partial<TestRelease> = {},
    forHours = 3,
  ): Promise<number[]> {
    await setUp({ type, ...over });
    const asked: number[] = [];
    const device = new TestDevice(server, { clock, policy: busy(asked) });
    const stop = new AbortController();
    const end = clock.now() + forHours * HOUR;
    clock.onSleep = () => {
      if (clock.now() >= end) stop.abort();
    };
    await device.agent().run({ signal: stop.signal });
    return asked;
  }

  it('soft: the device policy defers installing', async () => {
    const asked = await runWithBusyPolicy('soft');
    expect(asked.length).toBeGreaterThan(100);
    expect(server.statuses('act_t')).not.toContain('installing');
  });

  it('forced: installs without asking the device policy', async () => {
    const asked = await runWithBusyPolicy('forced');
    expect(asked).toEqual([]);
    expect(reportedAt('installing')).toBe(Date.parse('2026-11-22T00:00:00Z'));
  });

  it('time-forced: deferred by the policy until forceAfter, then installed without asking', async () => {
    const deadline = Date.parse('2026-11-22T01:30:00Z');
    const asked = await runWithBusyPolicy('time-forced', {
      forceAfter: new Date(deadline).toISOString(),
    });
    expect(asked.length).toBeGreaterThan(50);
    expect(asked.every((t) => t < deadline)).toBe(true);
    expect(reportedAt('installing')).toBe(deadline);
  });

  it('download-only: downloads and stops', async () => {
    await setUp({ type: 'download-only' });
    const device = new TestDevice(server, { clock });
    await device.runToIdle();
    expect(server.statuses('act_t')).toEqual(['downloading', 'downloaded']);
    expect(device.boot.booted).toBe('a');
  });
});
