import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentState } from './machine/agent-states.js';
import { DeviceApiServer, type TestRelease } from './testing/device-api-server.js';
import { FakeClock } from './testing/fakes.js';
import { image, MAIN, TestDevice, type TestDeviceOptions } from './testing/harness.js';
import { signedEnvelope } from './testing/signed-release.js';

// A restarted agent must wait as long as the one before it: every wait comes from persisted state
// (the journal's poll interval, the attempt count) and the clock, never from a zero in memory.
// Each case stops the daemon in a waiting state, starts a fresh agent on the same journal and
// counts its requests over one virtual hour of an injected clock (no wall-clock thresholds).

const POLL_S = 60;
const HOUR = 3600_000;
// With a poll every minute an hour holds 60 polls; a spinning agent blows through this at once.
const CAP = 500;

let server: DeviceApiServer;
beforeEach(async () => {
  server = await new DeviceApiServer().start();
  server.pollIntervalSeconds = POLL_S;
});
afterEach(async () => {
  await server.close();
});

async function offer(over: Partial<TestRelease> = {}): Promise<void> {
  const img = image(9_000, 4);
  server.offer({
    actionId: 'act_w',
    version: '1.1.0',
    sequenceNumber: 2,
    envelope: await signedEnvelope({ sequenceNumber: 2, components: [{ id: MAIN, image: img }] }),
    payloads: [img],
    ...over,
  });
}

/**
 * Runs the daemon until it sleeps in `state`, stops it there, then runs a fresh agent on the same
 * journal for one virtual hour. Returns the requests the restarted agent made and the state it
 * resumed in.
 */
async function restartIn(
  state: AgentState,
  opts: TestDeviceOptions = {},
): Promise<{ requests: number; resumedIn: AgentState; elapsed: number }> {
  const clock = new FakeClock();
  const device = new TestDevice(server, { ...opts, clock });
  const first = new AbortController();
  clock.onSleep = () => {
    if (device.chain().at(-1) === state) first.abort();
  };
  await device.agent().run({ signal: first.signal });
  const resumedIn = (await device.agent().loadJournal()).state;

  const before = server.requests.length;
  const start = clock.now();
  const second = new AbortController();
  clock.onSleep = () => {
    if (clock.now() - start >= HOUR || server.requests.length - before > CAP) second.abort();
  };
  await device.agent().run({ signal: second.signal });
  return { requests: server.requests.length - before, resumedIn, elapsed: clock.now() - start };
}

describe('waits after a restart', () => {
  it('Idle: one poll at start, then one per poll interval', async () => {
    const r = await restartIn('Idle');
    expect(r.elapsed).toBeGreaterThanOrEqual(HOUR);
    expect(r.requests).toBeLessThanOrEqual(HOUR / (POLL_S * 1000) + 2);
  });

  it('InstallWait before the maintenance window: polls at the persisted interval, not in a loop', async () => {
    const now = new FakeClock().now();
    await offer({
      maintenanceWindow: {
        start: new Date(now + 10 * HOUR).toISOString(),
        end: new Date(now + 11 * HOUR).toISOString(),
      },
    });
    const r = await restartIn('InstallWait');
    expect(r.resumedIn).toBe('InstallWait');
    expect(r.elapsed).toBeGreaterThanOrEqual(HOUR);
    expect(r.requests).toBeLessThanOrEqual(HOUR / (POLL_S * 1000) + 2);
  });

  it('InstallWait after the maintenance window closed: polls at the persisted interval', async () => {
    const now = new FakeClock().now();
    await offer({
      maintenanceWindow: {
        start: new Date(now - 2 * HOUR).toISOString(),
        end: new Date(now - HOUR).toISOString(),
      },
    });
    const r = await restartIn('InstallWait');
    expect(r.resumedIn).toBe('InstallWait');
    expect(r.requests).toBeLessThanOrEqual(HOUR / (POLL_S * 1000) + 2);
  });

  it('InstallWait before a recurring window: polls at the persisted interval, not in a loop', async () => {
    // The fake clock starts at 00:00Z; the window opens at 12:00 UTC, outside the hour measured.
    await offer({ recurringWindow: { cron: '0 12 * * *', durationSeconds: 600, timeZone: 'UTC' } });
    const r = await restartIn('InstallWait');
    expect(r.resumedIn).toBe('InstallWait');
    expect(r.elapsed).toBeGreaterThanOrEqual(HOUR);
    expect(r.requests).toBeLessThanOrEqual(HOUR / (POLL_S * 1000) + 2);
  });

  it('InstallWait deferred by canInstall(): asks again once per poll interval', async () => {
    await offer();
    let asked = 0;
    const r = await restartIn('InstallWait', {
      policy: {
        async canInstall() {
          asked += 1;
          return { ok: false, reason: 'busy' };
        },
      },
    });
    expect(r.resumedIn).toBe('InstallWait');
    expect(r.requests).toBeLessThanOrEqual(HOUR / (POLL_S * 1000) + 2);
    expect(asked).toBeLessThanOrEqual(2 * (HOUR / (POLL_S * 1000) + 2));
  });

  it('VerifyManifest backing off: resumes with its attempt count and keeps backing off', async () => {
    await offer();
    server.faults.failEnvelopes = 1_000;
    const r = await restartIn('VerifyManifest', {
      options: { maxAttempts: 1_000, backoffCapMs: 60_000 },
    });
    expect(r.resumedIn).toBe('VerifyManifest');
    expect(r.elapsed).toBeGreaterThanOrEqual(HOUR);
    expect(r.requests).toBeLessThan(CAP);
  });

  it('Download backing off: resumes with its attempt count and keeps backing off', async () => {
    await offer();
    server.faults.failPayloads = 1_000;
    const r = await restartIn('Download', {
      options: { maxAttempts: 1_000, backoffCapMs: 60_000 },
    });
    expect(r.resumedIn).toBe('Download');
    expect(r.elapsed).toBeGreaterThanOrEqual(HOUR);
    // Each attempt is a download and a refresh check-in; full jitter averages half the 60 s cap.
    expect(r.requests).toBeLessThan(CAP);
  });
});
