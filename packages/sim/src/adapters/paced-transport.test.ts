import { AgentError, type CheckInResult, type Transport } from '@updraft/agent';
import { describe, expect, it } from 'vitest';
import { isRunStopped } from '../errors.js';
import { BoundedClock } from './bounded-clock.js';
import { PacedTransport } from './paced-transport.js';
import { SimClock } from './sim-clock.js';

/** A service that answers each check-in from a script of statuses (200 or an error status). */
function scripted(statuses: (number | { status: number; retryAfterSeconds: number })[]) {
  const at: number[] = [];
  let i = 0;
  const transport = (clock: SimClock): Transport => ({
    async checkIn() {
      at.push(clock.now());
      const s = statuses[Math.min(i++, statuses.length - 1)] ?? 200;
      if (s === 200) return { status: 304 };
      const details = typeof s === 'number' ? { status: s } : s;
      throw new AgentError('AGENT_SERVER_ERROR', `answered ${details.status}`, { details });
    },
    fetchEnvelope: async () => new Uint8Array(),
    openPayload: async () => ({ start: 0, totalSize: 0, body: (async function* () {})() }),
    sendFeedback: async () => 'accepted',
  });
  return { at, transport };
}

const request = { components: [], attributes: {} };

describe('PacedTransport', () => {
  it('spaces check-ins by the minimum interval whatever the caller does', async () => {
    const clock = new SimClock(0);
    const s = scripted([200]);
    const paced = new PacedTransport(s.transport(clock), { clock, minCheckInIntervalMs: 1000 });
    for (let n = 0; n < 5; n++) await paced.checkIn(request, null);
    expect(s.at).toEqual([0, 1000, 2000, 3000, 4000]);
    expect(paced.requests).toBe(5);
  });

  it("holds every request for a 429's Retry-After, or the default hold without one", async () => {
    const clock = new SimClock(0);
    const s = scripted([{ status: 429, retryAfterSeconds: 30 }, 429, 200]);
    const paced = new PacedTransport(s.transport(clock), {
      clock,
      minCheckInIntervalMs: 1,
      defaultRetryAfterMs: 60_000,
    });
    await expect(paced.checkIn(request, null)).rejects.toThrow('429');
    await expect(paced.checkIn(request, null)).rejects.toThrow('429');
    await paced.checkIn(request, null);
    expect(s.at).toEqual([0, 30_000, 90_000]);
    expect(paced.rateLimited).toBe(2);
    expect(paced.lastFailure).toBeNull();
  });

  it('stops the run when its request budget is spent, and at once on a refusal stopOn names', async () => {
    const clock = new SimClock(0);
    const budget = new PacedTransport(scripted([200]).transport(clock), { clock, maxRequests: 2 });
    await budget.checkIn(request, null);
    await budget.checkIn(request, null);
    const stop = await budget.checkIn(request, null).catch((e: unknown) => e);
    expect(isRunStopped(stop) && stop.reason).toBe('request-budget');

    const refused = new PacedTransport(scripted([401]).transport(clock), {
      clock,
      stopOn: (e) => (e as AgentError).details.status === 401,
    });
    const error = await refused.checkIn(request, null).catch((e: unknown) => e);
    expect(isRunStopped(error) && error.reason).toBe('refused');
  });

  it('ends its waits at the deadline of a BoundedClock', async () => {
    const inner = new SimClock(0);
    const clock = new BoundedClock(inner, { deadline: 10_000 });
    const s = scripted([429]);
    const paced = new PacedTransport(s.transport(inner), { clock, defaultRetryAfterMs: 60_000 });
    await expect(paced.checkIn(request, null)).rejects.toThrow('429');
    const stop = await paced.checkIn(request, null).catch((e: unknown) => e);
    expect(isRunStopped(stop) && stop.reason).toBe('deadline');
    expect(inner.now()).toBe(10_000);
    expect(s.at).toEqual([0]);
  });

  it("replaces the service's advertised poll interval with pollIntervalSeconds, leaving 304s alone", async () => {
    const clock = new SimClock(0);
    const answers: CheckInResult[] = [
      { status: 200, etag: 'e', body: { pollIntervalSeconds: 300, action: null } },
      { status: 304 },
    ];
    const inner: Transport = {
      ...scripted([200]).transport(clock),
      checkIn: async () => answers.shift() ?? { status: 304 },
    };
    const paced = new PacedTransport(inner, { clock, pollIntervalSeconds: 7 });
    expect(await paced.checkIn(request, null)).toEqual({
      status: 200,
      etag: 'e',
      body: { pollIntervalSeconds: 7, action: null },
    });
    expect(await paced.checkIn(request, 'e')).toEqual({ status: 304 });
  });
});

describe('BoundedClock', () => {
  it('throws RunStopped(interrupted) when its signal aborts', async () => {
    const stop = new AbortController();
    const clock = new BoundedClock(new SimClock(0), { signal: stop.signal });
    await clock.sleep(5);
    stop.abort();
    const error = await clock.sleep(5).catch((e: unknown) => e);
    expect(isRunStopped(error) && error.reason).toBe('interrupted');
  });
});
