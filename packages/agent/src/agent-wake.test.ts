import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceApiServer } from './testing/device-api-server.js';
import { FakeClock } from './testing/fakes.js';
import { TestDevice } from './testing/harness.js';

// Agent.wake (a push notice): ends the wait between polls so the agent checks in now, collapses
// a burst into one check-in, and changes nothing by itself (the answer decides).

let server: DeviceApiServer;
beforeEach(async () => {
  server = await new DeviceApiServer().start();
  server.pollIntervalSeconds = 300;
});
afterEach(async () => {
  await server.close();
});

const checkIns = () => server.requests.filter((r) => r.path.endsWith('/check-in')).length;

describe('Agent.wake', () => {
  it('ends the idle wait at once; a burst of wakes makes one check-in; no wake, no check-in', async () => {
    const clock = new FakeClock();
    const device = new TestDevice(server, { clock });
    const agent = device.agent();
    const stop = new AbortController();
    let sleeps = 0;
    // Waits of a poll interval never end on their own here: only a wake (or the stop) ends them.
    clock.hangFromMs = 1_000;
    clock.onSleep = (ms) => {
      if (ms >= 1_000) sleeps += 1;
    };
    const running = agent.run({ signal: stop.signal });
    await expect.poll(() => sleeps).toBe(1); // first poll done, waiting 300 s
    expect(checkIns()).toBe(1);
    for (let i = 0; i < 5; i++) agent.wake(10);
    await expect.poll(() => checkIns()).toBe(2);
    await expect.poll(() => sleeps).toBe(2);
    await new Promise((r) => setTimeout(r, 100));
    expect(checkIns()).toBe(2); // the burst made one check-in; nothing else ends this wait
    expect((await agent.loadJournal()).state).toBe('Idle');
    stop.abort();
    await running;
  });
});
