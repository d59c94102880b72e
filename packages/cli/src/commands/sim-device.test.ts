import { createHash, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createEnvelope, createKeySigner, importPem, signEnvelope } from '@updraft/core';
import type { RunningServer } from '@updraft/server';
import { SimClock } from '@updraft/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { type RunResult, run, tempDir } from '../testing/capture-io.js';
import { startTestService, type TestServiceOverrides } from '../testing/test-service.js';

// `updraft sim device` against a real update service listening on 127.0.0.1. The device's time
// is an injected virtual clock that starts now (io.clock): hours of polling run at once, and a
// bound on the requests the service saw is a bound on the device's rate, not on this machine's speed.

const PASSWORD = 'correct horse battery staple';
const MINUTE = 60_000;
const vendorId = randomUUID();
const classId = randomUUID();

let dir: string;
let cleanup: () => Promise<void>;

interface Service {
  readonly server: RunningServer;
  /** Requests the service received since the last reset (the device's, during a sim run). */
  requests: number;
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
  deviceClassId: string;
  /** The 1.1.0 release, uploaded on first use. */
  releaseId?: string;
}

type ConfigOverrides = NonNullable<TestServiceOverrides>;

async function startService(overrides: ConfigOverrides = {}): Promise<Service> {
  const server = await startTestService({
    dir,
    adminPassword: PASSWORD,
    dataDir: join(dir, `data-${randomUUID()}`),
    overrides,
  });
  let token = '';
  const service: Service = {
    server,
    requests: 0,
    deviceClassId: '',
    async api<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return JSON.parse(text) as T;
    },
  };
  token = (
    await service.api<{ token: string }>('POST', '/api/v1/auth/login', {
      username: 'admin',
      password: PASSWORD,
    })
  ).token;
  service.deviceClassId = (
    await service.api<{ id: string }>('POST', '/api/v1/device-classes', {
      name: 'sim-mcu',
      vendorId,
      classId,
    })
  ).id;
  await service.api('POST', `/api/v1/device-classes/${service.deviceClassId}/keys`, {
    format: 'pem',
    key: await readFile(join(dir, 'release.pub'), 'utf8'),
  });
  server.app.server.on('request', () => {
    service.requests += 1;
  });
  return service;
}

/** A device on 1.0.0 with an action to 1.1.0 (optionally in a maintenance window). */
async function deviceWithAction(
  service: Service,
  window?: { start: Date; end: Date },
): Promise<{ token: string; actionId: string }> {
  service.releaseId ??= await uploadRelease(service);
  const device = await service.api<{ device: { id: string }; token: string }>(
    'POST',
    '/api/v1/devices',
    { name: `mcu-${randomUUID().slice(0, 8)}`, deviceClassId: service.deviceClassId },
  );
  const action = await service.api<{ id: string }>('POST', '/api/v1/actions', {
    deviceId: device.device.id,
    releaseId: service.releaseId,
    ...(window
      ? { maintenanceWindow: { start: window.start.toISOString(), end: window.end.toISOString() } }
      : {}),
  });
  return { token: device.token, actionId: action.id };
}

async function uploadRelease(service: Service): Promise<string> {
  const image = new Uint8Array(await readFile(join(dir, 'fw-1.1.0.bin')));
  const unsigned = createEnvelope({
    vendorId,
    classId,
    sequenceNumber: 2,
    components: [
      {
        id: '814100',
        digest: new Uint8Array(createHash('sha256').update(image).digest()),
        size: image.length,
        uri: 'https://fw.example/1.1.0.bin',
      },
    ],
  });
  const key = importPem(await readFile(join(dir, 'release.key')));
  const envelope = await signEnvelope(unsigned, createKeySigner(key));
  const release = await service.api<{ id: string }>('POST', '/api/v1/releases', {
    deviceClassId: service.deviceClassId,
    version: '1.1.0',
    envelope: Buffer.from(envelope).toString('base64'),
    payloads: [{ data: Buffer.from(image).toString('base64') }],
  });
  return release.id;
}

/** Runs `updraft sim device` against `service` in virtual time; counts the requests it made. */
async function simDevice(
  service: Service | string,
  token: string,
  extra: string[] = ['--json'],
): Promise<RunResult & { requests: number }> {
  const url = typeof service === 'string' ? service : service.server.url;
  if (typeof service !== 'string') service.requests = 0;
  const r = await run(
    dir,
    [
      'sim',
      'device',
      '--image',
      'fw-1.0.0.bin',
      '--trusted-key',
      'release.pub',
      '--server',
      url,
      '--token',
      token,
      '--vendor-id',
      vendorId,
      '--class-id',
      classId,
      ...extra,
    ],
    { clock: new SimClock(Date.now()) },
  );
  return Object.assign(r, { requests: typeof service === 'string' ? 0 : service.requests });
}

const image = (version: string, seq: number) =>
  run(dir, [
    'sim',
    'image',
    '--key',
    'release.key',
    '--image-version',
    version,
    '--sequence-number',
    String(seq),
    '--size',
    String(16 * 1024),
    '--out',
    `fw-${version}.bin`,
  ]);

let open: Service;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  expect((await run(dir, ['keys', 'generate', '--alg', 'ed25519', '--out', 'release'])).code).toBe(
    0,
  );
  expect((await image('1.0.0', 1)).code).toBe(0);
  expect((await image('1.1.0', 2)).code).toBe(0);
  open = await startService();
}, 120_000);

afterAll(async () => {
  await open?.server.close();
  await cleanup?.();
});

describe('sim device against a real service', () => {
  it('waits for a maintenance window at the poll interval, then installs and reports success', async () => {
    const now = Date.now();
    const { token, actionId } = await deviceWithAction(open, {
      start: new Date(now + 30 * MINUTE),
      end: new Date(now + 90 * MINUTE),
    });
    const r = await simDevice(open, token);
    expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.ok);
    expect(r.json()).toMatchObject({ outcome: 'idle', version: '1.1.0', slot: 'b' });
    // The service's active poll interval is 60 s: 30 minutes of waiting is about 30 check-ins,
    // plus the update's own requests (envelope, payload, reports). A virtual clock that started
    // long before the window made ~974,000.
    expect(r.requests).toBeLessThanOrEqual(30 + 25);
    const action = await open.api<{ state: string }>('GET', `/api/v1/actions/${actionId}`);
    expect(action.state).toBe('success');
  });

  it('stops at --timeout while waiting for a window, with the agent state and its reports delivered', async () => {
    const now = Date.now();
    const { token, actionId } = await deviceWithAction(open, {
      start: new Date(now + 120 * MINUTE),
      end: new Date(now + 180 * MINUTE),
    });
    const r = await simDevice(open, token, [
      '--json',
      '--timeout',
      '600',
      '--state',
      'waiting.json',
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.other);
    const { error } = r.json<{ error: { code: string; message: string; details: object } }>();
    expect(error.code).toBe('SIM_RUN_INCOMPLETE');
    expect(error.message).toContain('InstallWait');
    expect(error.details).toMatchObject({ reason: 'deadline', version: '1.0.0' });
    // Ten minutes at one check-in a minute, plus the download's requests.
    expect(r.requests).toBeLessThanOrEqual(10 + 20);
    const action = await open.api<{ state: string }>('GET', `/api/v1/actions/${actionId}`);
    expect(action.state).toBe('downloaded');
    await expect(readFile(join(dir, 'waiting.json'))).resolves.toBeDefined();
  });

  it('obeys 429 answers: holds its requests, gives up at --timeout and exits with a service error', async () => {
    const limited = await startService({
      // The counters' window is aligned to wall-clock time: an hour makes a turn during the
      // run (which would let four more requests through) unlikely, and the bound allows for one.
      rateLimit: {
        enabled: true,
        windowMs: 3_600_000,
        perDevice: 4,
        perToken: 1000,
        anonymous: 1000,
      },
    });
    try {
      const { token } = await deviceWithAction(limited);
      const r = await simDevice(limited, token, ['--json', '--timeout', '1800']);
      expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.service);
      const { error } = r.json<{ error: { code: string; details: { rateLimited: number } } }>();
      expect(error.code).toBe('SIM_SERVER_RATE_LIMITED');
      expect(error.details.rateLimited).toBeGreaterThan(0);
      // Four requests pass (eight if the window turned); after the first 429 every request
      // waits out the 60 s hold (no Retry-After reaches the device), so 30 minutes allow 30 more.
      expect(r.requests).toBeLessThanOrEqual(2 * 4 + 1 + 30);
    } finally {
      await limited.server.close();
    }
  });

  it('stops at --max-requests with a clear status', async () => {
    const { token } = await deviceWithAction(open, {
      start: new Date(Date.now() + 120 * MINUTE),
      end: new Date(Date.now() + 180 * MINUTE),
    });
    const r = await simDevice(open, token, ['--json', '--max-requests', '12']);
    expect(r.code).toBe(EXIT_CODES.other);
    expect(r.json()).toMatchObject({
      error: { code: 'SIM_RUN_INCOMPLETE', details: { reason: 'request-budget', requests: 12 } },
    });
    expect(r.requests).toBe(12);
  });

  it('exits with SIM_SERVER_AUTH_REJECTED (exit 8) for a token the service refuses, after one request', async () => {
    const r = await simDevice(open, 'bogus');
    expect(r.code).toBe(EXIT_CODES.service);
    expect(r.json()).toMatchObject({
      error: { code: 'SIM_SERVER_AUTH_REJECTED', details: { status: 401, outcome: 'stopped' } },
    });
    expect(r.requests).toBe(1);
  });

  it('exits with SIM_SERVER_UNREACHABLE (exit 8) when nothing listens at --server', async () => {
    const port = await closedPort();
    const r = await simDevice(`http://127.0.0.1:${port}`, 'updraft_device_x');
    expect(r.code).toBe(EXIT_CODES.service);
    expect(r.json()).toMatchObject({ error: { code: 'SIM_SERVER_UNREACHABLE' } });
    const human = await simDevice(`http://127.0.0.1:${port}`, 'x', []);
    expect(human.code).toBe(EXIT_CODES.service);
    expect(human.stderr).toContain('could not be reached [SIM_SERVER_UNREACHABLE]');
  });
});

describe('sim fleet against a real service', () => {
  it('updates the devices it can and counts a refused token as a service failure (exit 8)', async () => {
    const { token, actionId } = await deviceWithAction(open);
    await writeFile(join(dir, 'tokens.txt'), `${token}\nbogus\n`);
    const r = await simFleet(open, 'tokens.txt', []);
    expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.service);
    expect(r.json()).toMatchObject({
      versions: { '1.1.0': 1, '1.0.0': 1 },
      outcomes: { idle: 1, stopped: 1 },
      failures: { SIM_SERVER_AUTH_REJECTED: 1 },
    });
    const action = await open.api<{ state: string }>('GET', `/api/v1/actions/${actionId}`);
    expect(action.state).toBe('success');
  });
});

/** A device registered under `name` (no action yet): its id and token. */
async function namedDevice(service: Service, name: string): Promise<{ id: string; token: string }> {
  const made = await service.api<{ device: { id: string }; token: string }>(
    'POST',
    '/api/v1/devices',
    { name, deviceClassId: service.deviceClassId },
  );
  return { id: made.device.id, token: made.token };
}

async function assign(service: Service, deviceId: string): Promise<string> {
  service.releaseId ??= await uploadRelease(service);
  const action = await service.api<{ id: string }>('POST', '/api/v1/actions', {
    deviceId,
    releaseId: service.releaseId,
  });
  return action.id;
}

/** `updraft sim fleet` against `service` with the devices of `tokensFile`, in virtual time. */
function simFleet(service: Service, tokensFile: string, extra: string[], clock?: SimClock) {
  return run(
    dir,
    [
      'sim',
      'fleet',
      '--image',
      'fw-1.0.0.bin',
      '--trusted-key',
      'release.pub',
      '--server',
      service.server.url,
      '--tokens-file',
      tokensFile,
      '--vendor-id',
      vendorId,
      '--class-id',
      classId,
      '--json',
      ...extra,
    ],
    { clock: clock ?? new SimClock(Date.now()) },
  );
}

/** Check-ins the service answered, per device token (counted from the requests it received). */
function countCheckIns(service: Service): Map<string, number> {
  const counts = new Map<string, number>();
  service.server.app.server.on(
    'request',
    (req: { url?: string; headers: { authorization?: string } }) => {
      if (!req.url?.endsWith('/check-in')) return;
      const token = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
      counts.set(token, (counts.get(token) ?? 0) + 1);
    },
  );
  return counts;
}

interface FleetSummary {
  outcomes: Record<string, number>;
  versions: Record<string, number>;
  updates: { installed: number; failed: number; reverted: number };
  faulty: number;
  requests: number;
}

describe('sim fleet rollout rehearsal against a real service', () => {
  it('with --fault-rate 0.5 exactly the hash-chosen devices revert and report failure, the others install', async () => {
    open.releaseId ??= await uploadRelease(open);
    const devices = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const name = `rehearsal-${i}-${randomUUID().slice(0, 6)}`;
        const device = await namedDevice(open, name);
        return { ...device, name, actionId: await assign(open, device.id) };
      }),
    );
    // The faulty subset, computed here from the documented rule: SHA-256("<seed>:<name>"), its
    // first 48 bits as a fraction of 2^48, below the rate.
    const faulty = new Set(
      devices
        .filter(
          (d) =>
            createHash('sha256').update(`drill-7:${d.name}`).digest().readUIntBE(0, 6) / 2 ** 48 <
            0.5,
        )
        .map((d) => d.name),
    );
    expect(faulty.size).toBeGreaterThan(0);
    expect(faulty.size).toBeLessThan(20);
    await writeFile(
      join(dir, 'rehearsal.txt'),
      devices.map((d) => `${d.name} ${d.token}`).join('\n'),
    );
    const r = await simFleet(open, 'rehearsal.txt', [
      '--fault-rate',
      '0.5',
      '--fault-seed',
      'drill-7',
      '--duration',
      '21600',
      '--poll-interval',
      '60',
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.ok);
    const summary = r.json<FleetSummary>();
    expect(summary).toMatchObject({
      faulty: faulty.size,
      outcomes: { idle: 20, updating: 0, bricked: 0, stopped: 0 },
      versions: { '1.0.0': faulty.size, '1.1.0': 20 - faulty.size },
      updates: { installed: 20 - faulty.size, failed: faulty.size, reverted: faulty.size },
    });
    for (const d of devices) {
      const action = await open.api<{
        state: string;
        events: { status: string; code: string | null }[];
      }>('GET', `/api/v1/actions/${d.actionId}`);
      if (faulty.has(d.name)) {
        expect(action.state, d.name).toBe('failure');
        expect(action.events.at(-1)?.code).toBe('SIM_BOOT_TRIAL_REVERTED');
      } else {
        expect(action.state, d.name).toBe('success');
      }
    }
  });

  it('with --duration runs every device at once, also beyond the default concurrency of 64', async () => {
    const devices = await Promise.all(
      Array.from({ length: 65 }, (_, i) =>
        namedDevice(open, `many-${i}-${randomUUID().slice(0, 6)}`),
      ),
    );
    await writeFile(join(dir, 'many.txt'), devices.map((d) => d.token).join('\n'));
    const checkIns = countCheckIns(open);
    const r = await simFleet(open, 'many.txt', ['--duration', '600', '--poll-interval', '60']);
    expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.ok);
    expect(r.json<FleetSummary>().outcomes).toMatchObject({ idle: 65, stopped: 0 });
    // Run 64 at a time, the 65th device would start after the others ended at the deadline.
    expect(devices.filter((d) => (checkIns.get(d.token) ?? 0) === 0)).toEqual([]);
    const refused = await simFleet(open, 'many.txt', ['--duration', '600', '--concurrency', '8']);
    expect(refused.code).toBe(EXIT_CODES.usage);
  });

  it('with --duration keeps a device polling, so an action assigned after its first idle check-in is installed', async () => {
    const device = await namedDevice(open, `late-${randomUUID().slice(0, 8)}`);
    await writeFile(join(dir, 'late.txt'), `late ${device.token}\n`);
    const checkIns = countCheckIns(open);
    let actionId: string | undefined;
    let checkInsBefore = 0;
    // The device's virtual clock: its first wait of a poll interval comes after a check-in that
    // found nothing to do; the action is assigned then, while the device waits.
    const clock = new FirstWaitClock(Date.now(), 30_000, async () => {
      checkInsBefore = checkIns.get(device.token) ?? 0;
      actionId = await assign(open, device.id);
    });
    const r = await simFleet(
      open,
      'late.txt',
      ['--duration', '3600', '--poll-interval', '30'],
      clock,
    );
    expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.ok);
    expect(checkInsBefore).toBeGreaterThanOrEqual(1);
    expect(actionId).toBeDefined();
    const action = await open.api<{ state: string }>('GET', `/api/v1/actions/${actionId}`);
    expect(action.state).toBe('success');
    expect(r.json<FleetSummary>()).toMatchObject({
      outcomes: { idle: 1 },
      versions: { '1.1.0': 1 },
      updates: { installed: 1, failed: 0, reverted: 0 },
    });
    // An hour at one check-in per 30 s (the service says 300 s when idle): ~120 check-ins; the
    // first poll after each of the update's two boots goes out at once.
    const polls = checkIns.get(device.token) ?? 0;
    expect(polls).toBeGreaterThanOrEqual(3600 / 30 - 5);
    expect(polls).toBeLessThanOrEqual(3600 / 30 + 5);
  });
});

/** Virtual time that runs `onFirstWait` once, at the first sleep of at least `minMs`. */
class FirstWaitClock extends SimClock {
  #pending: (() => Promise<void>) | null;

  constructor(
    start: number,
    private readonly minMs: number,
    onFirstWait: () => Promise<void>,
  ) {
    super(start);
    this.#pending = onFirstWait;
  }

  override async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const hook = this.#pending;
    if (hook && ms >= this.minMs) {
      this.#pending = null;
      await hook();
    }
    return super.sleep(ms, signal);
  }
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
