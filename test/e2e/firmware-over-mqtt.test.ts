import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttTransport, openMqttConnection, parseAgentConfig, runFileAgent } from '@updraft/agent';
import { runCli } from '@updraft/cli';
import {
  componentIdFromHex,
  createEnvelope,
  createKeySigner,
  deviceMqttIdentity,
  deviceTopicRoot,
  signEnvelope,
} from '@updraft/core';
import {
  buildServer,
  ExternalMqttBus,
  loadConfig,
  type MqttBus,
  type MqttMessage,
  type MqttPublishOptions,
} from '@updraft/server';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Mosquitto, startMosquitto } from './mosquitto-fixture.js';

// Firmware over MQTT (issue 11, item 6), end to end: a real Mosquitto on a free port, the real
// service built in-process with an mqtt.js bus to that broker (wrapped only to watch requests and,
// in two tests, to tamper with answers on their way out), and the real file agent with the
// MQTT transport. The service never listens on HTTP: the device has only MQTT.

const TENANT = 'ten_default';
const MAIN = '814100';
const CHUNK = 4096;
const vendorId = randomUUID();
const classId = randomUUID();
const releaseKey = generateKeyPairSync('ed25519');

/** What the service saw of one device request. */
interface SeenRequest {
  readonly device: string;
  readonly op: string;
  readonly offset?: number;
  /** Path of a payload request's URL (`/api/device/v1/artifacts/…` or `…/deltas/…`). */
  readonly path?: string;
  readonly status?: string;
  readonly code?: string | null;
}

type Tamper = (
  topic: string,
  payload: Buffer,
  options: MqttPublishOptions,
) => Buffer | Promise<Buffer>;

/** The service's bus, recording requests and letting a test rewrite answers (a broker-side MITM). */
class WatchedBus implements MqttBus {
  readonly seen: SeenRequest[] = [];
  tamper: Tamper | null = null;
  constructor(private readonly inner: MqttBus) {}
  async publish(topic: string, payload: Buffer | string, options?: MqttPublishOptions) {
    const bytes = Buffer.from(payload);
    const out = this.tamper ? await this.tamper(topic, bytes, options ?? {}) : bytes;
    return this.inner.publish(topic, out, options);
  }
  subscribe(filter: string, handler: (m: MqttMessage) => void) {
    return this.inner.subscribe(filter, (m) => {
      try {
        const r = JSON.parse(m.payload.toString()) as Record<string, never>;
        const report = (r.report ?? {}) as { status?: string; code?: string | null };
        this.seen.push({
          device: /CN=([^,]+)/.exec(m.topic)?.[1] ?? '',
          op: r.op,
          ...(typeof r.offset === 'number' ? { offset: r.offset } : {}),
          ...(typeof r.url === 'string' ? { path: (r.url as string).split('?')[0] } : {}),
          ...(r.op === 'feedback' ? { status: report.status, code: report.code ?? null } : {}),
        });
      } catch {
        // Not JSON: the responder answers it with a problem; nothing to record.
      }
      handler(m);
    });
  }
  close() {
    return this.inner.close();
  }
}

let broker: Mosquitto;
let bus: WatchedBus;
let dir: string;
let seq = 1;

/** A built service signed in as its admin, with the device class of the tests. */
interface Service {
  readonly app: Awaited<ReturnType<typeof buildServer>>;
  readonly admin: Record<string, string>;
  readonly deviceClassId: string;
}
/** The service the helpers below talk to: Mosquitto's, or the embedded broker's in its block. */
let svc: Service;
let external: Service;

async function api<T = Record<string, unknown>>(method: string, url: string, body?: unknown) {
  const res = await svc.app.inject({
    method: method as 'GET',
    url,
    headers: svc.admin,
    ...(body === undefined ? {} : { payload: body as object }),
  });
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return JSON.parse(res.body) as T;
}

async function release(image: Uint8Array, version: string): Promise<string> {
  const sequenceNumber = ++seq;
  const unsigned = createEnvelope({
    vendorId,
    classId,
    sequenceNumber,
    components: [
      {
        id: MAIN,
        digest: createHash('sha256').update(image).digest(),
        size: image.length,
        uri: `https://fw.example/${version}.bin`,
      },
    ],
    text: {
      en: {
        fields: { updateDescription: `release ${version}` },
        components: [{ id: componentIdFromHex(MAIN), fields: { componentVersion: version } }],
      },
    },
  });
  const envelope = await signEnvelope(unsigned, createKeySigner(releaseKey.privateKey));
  const created = await api<{ id: string }>('POST', '/api/v1/releases', {
    deviceClassId: svc.deviceClassId,
    version,
    envelope: Buffer.from(envelope).toString('base64'),
    payloads: [{ data: Buffer.from(image).toString('base64') }],
  });
  return created.id;
}

async function deviceWithAction(name: string, releaseId: string) {
  const device = await api<{ device: { id: string }; token: string }>('POST', '/api/v1/devices', {
    name,
    deviceClassId: svc.deviceClassId,
  });
  const action = await api<{ id: string }>('POST', '/api/v1/actions', {
    deviceId: device.device.id,
    releaseId,
  });
  return { deviceId: device.device.id, actionId: action.id, token: device.token };
}

/** A device's own MQTT connection (MQTT 5), reconnecting quickly after a broker restart. */
function connectDevice(name: string): Promise<MqttClient> {
  return connectAsync(broker.url, {
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 200,
    clientId: `${name}-${randomBytes(3).toString('hex')}`,
  });
}

/** The files of a Linux device running `factory` (slot a), its agent config with them. */
async function prepareDevice(name: string, factory: Uint8Array) {
  const home = await mkdtemp(join(dir, `${name}-`));
  await writeFile(join(home, 'a.img'), factory);
  await writeFile(
    join(home, 'release.pub'),
    releaseKey.publicKey.export({ type: 'spki', format: 'pem' }),
  );
  const config = parseAgentConfig(
    {
      // Nothing listens here: every byte must come over MQTT.
      server: { url: 'http://127.0.0.1:9', token: 'unused-over-mqtt' },
      device: { vendorId, classId },
      trustedKeys: ['release.pub'],
      stateDir: 'state',
      slots: {
        a: { path: 'a.img', size: 256 * 1024 },
        b: { path: 'b.img', size: 256 * 1024 },
        sectorSize: 4096,
      },
      installed: { version: '1.0.0', sequenceNumber: 1, size: factory.length },
      checkpointBytes: 16 * 1024,
      stallTimeoutSeconds: 10,
    },
    home,
  );
  return { name, home, config };
}

/** Runs the device's file agent over MQTT only until idle (or `signal`); returns its slot b. */
async function runAgent(
  device: Awaited<ReturnType<typeof prepareDevice>>,
  options: {
    chunkRetries?: number;
    signal?: AbortSignal;
    /** Default: a plain MQTT 5 connection to Mosquitto. */
    connect?: () => Promise<MqttClient>;
    protocolVersion?: 4 | 5;
  } = {},
): Promise<Buffer> {
  const client = await (options.connect ?? (() => connectDevice(device.name)))();
  const transport = new MqttTransport({
    client,
    ...(options.protocolVersion ? { protocolVersion: options.protocolVersion } : {}),
    topicRoot: deviceTopicRoot(TENANT, device.name),
    chunkBytes: CHUNK,
    requestTimeoutMs: 5_000,
    ...(options.chunkRetries !== undefined ? { chunkRetries: options.chunkRetries } : {}),
  });
  try {
    await runFileAgent(device.config, {
      until: 'idle',
      transport,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } finally {
    transport.close();
    await client.endAsync(true);
  }
  return readFile(join(device.home, 'b.img'));
}

async function runDevice(
  name: string,
  factory: Uint8Array,
  options: { chunkRetries?: number } = {},
): Promise<Buffer> {
  return runAgent(await prepareDevice(name, factory), options);
}

/** Builds a service on `mqtt` settings, logs in and registers the device class and its key. */
async function boot(name: string, mqtt: object, mqttBus?: MqttBus): Promise<Service> {
  const password = randomBytes(12).toString('hex');
  const config = loadConfig({
    overrides: {
      dataDir: join(dir, name),
      logLevel: 'warn',
      auth: { adminPassword: password },
      rateLimit: { enabled: false },
      metrics: { public: true },
      mqtt: { chunkMaxBytes: 16 * 1024, ...mqtt },
    },
  });
  const app = await buildServer(config, { print: () => {}, ...(mqttBus ? { mqttBus } : {}) });
  const login = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username: 'admin', password },
  });
  const admin = { authorization: `Bearer ${(JSON.parse(login.body) as { token: string }).token}` };
  svc = { app, admin, deviceClassId: '' };
  const deviceClassId = (
    await api<{ id: string }>('POST', '/api/v1/device-classes', {
      name: 'mqtt-only',
      vendorId,
      classId,
    })
  ).id;
  await api('POST', `/api/v1/device-classes/${deviceClassId}/keys`, {
    format: 'pem',
    key: releaseKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  });
  svc = { app, admin, deviceClassId };
  return svc;
}

const payloadOffsets = (name: string) =>
  bus.seen.filter((r) => r.device === name && r.op === 'payload').map((r) => r.offset!);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-mqtt-fw-'));
  broker = await startMosquitto();
  bus = new WatchedBus(
    await ExternalMqttBus.connect({
      url: broker.url,
      certFile: '',
      keyFile: '',
      caFile: '',
      logger: pino({ level: 'silent' }),
    }),
  );
  external = await boot('external', { mode: 'external', url: broker.url }, bus);
}, 60_000);

afterAll(async () => {
  await external?.app.close();
  await bus?.close();
  await broker?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  svc = external;
  bus.tamper = null;
});

function image(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

/** Slot B holds `expected` and the service recorded the action as a success. */
async function expectInstalled(
  slotB: Buffer,
  expected: Uint8Array,
  actionId: string,
): Promise<void> {
  expect(slotB.subarray(0, expected.length).equals(Buffer.from(expected))).toBe(true);
  expect((await api<{ state: string }>('GET', `/api/v1/actions/${actionId}`)).state).toBe(
    'success',
  );
}

describe('firmware over MQTT', () => {
  it('updates a device over MQTT only: check-in, envelope, chunked download, install, feedback', async () => {
    const v2 = image(40_000);
    const { actionId } = await deviceWithAction('mqtt-full', await release(v2, '2.0.0'));
    const slotB = await runDevice('mqtt-full', image(20_000));

    await expectInstalled(slotB, v2, actionId);
    const ops = new Set(bus.seen.filter((r) => r.device === 'mqtt-full').map((r) => r.op));
    expect(ops).toEqual(new Set(['check-in', 'envelope', 'payload', 'feedback']));
    // Sequential chunks of the size the agent chose, from 0 to the end, each asked for once.
    const expected = Array.from({ length: Math.ceil(v2.length / CHUNK) }, (_, i) => i * CHUNK);
    expect(payloadOffsets('mqtt-full')).toEqual(expected);
    const statuses = bus.seen
      .filter((r) => r.device === 'mqtt-full' && r.op === 'feedback')
      .map((r) => r.status);
    expect(statuses).toContain('installing');
    expect(statuses.at(-1)).toBe('success');
  }, 60_000);

  it('resumes a transfer interrupted by a broker restart from the persisted offset, not from 0', async () => {
    const v2 = image(96 * 1024);
    const { actionId } = await deviceWithAction('mqtt-resume', await release(v2, '3.0.0'));
    const cutAt = 56 * 1024;
    let cut = false;
    bus.tamper = async (topic, payload, options) => {
      if (
        !cut &&
        topic.includes('CN=mqtt-resume,') &&
        options.userProperties?.offset === String(cutAt)
      ) {
        cut = true;
        // The broker dies before this answer goes out; it comes back a moment later.
        await broker.stop();
        setTimeout(() => void broker.start(), 500);
      }
      return payload;
    };
    const slotB = await runDevice('mqtt-resume', image(20_000));

    expect(cut).toBe(true);
    await expectInstalled(slotB, v2, actionId);
    const offsets = payloadOffsets('mqtt-resume');
    const at = offsets.indexOf(cutAt);
    const resumedFrom = offsets[at + 1]!;
    // The agent goes on from the sectors it had written (at least its last checkpoint, 48 KiB).
    expect(resumedFrom % 4096).toBe(0);
    expect(resumedFrom).toBeGreaterThanOrEqual(48 * 1024);
    expect(resumedFrom).toBeLessThanOrEqual(cutAt);
    expect(offsets.filter((o) => o === 0)).toHaveLength(1);
    expect(offsets.slice(at + 1).every((o) => o >= resumedFrom)).toBe(true);
  }, 60_000);

  it('resumes from the journal after the agent itself stopped during a disconnect', async () => {
    const v2 = image(96 * 1024);
    const { actionId } = await deviceWithAction('mqtt-journal', await release(v2, '3.1.0'));
    const device = await prepareDevice('mqtt-journal', image(20_000));
    const cutAt = 56 * 1024;
    const stop = new AbortController();
    let restarted: Promise<void> = Promise.resolve();
    bus.tamper = async (topic, payload, options) => {
      if (
        !stop.signal.aborted &&
        topic.includes('CN=mqtt-journal,') &&
        options.userProperties?.offset === String(cutAt)
      ) {
        // The device shuts down (power, service stop) while its broker connection is gone.
        stop.abort();
        await broker.stop();
        restarted = new Promise((r) => setTimeout(r, 300)).then(() => broker.start());
      }
      return payload;
    };
    await runAgent(device, { signal: stop.signal });
    expect(stop.signal.aborted).toBe(true);
    const before = payloadOffsets('mqtt-journal').length;
    bus.tamper = null;
    await restarted;
    const slotB = await runAgent(device);

    const after = payloadOffsets('mqtt-journal').slice(before);
    // A fresh agent knows only its files: the journal, saved when the failed step was set to
    // retry, holds every sector received before the cut (56 KiB), so it asks from there, not 0.
    expect(after[0]).toBe(cutAt);
    expect(after).not.toContain(0);
    await expectInstalled(slotB, v2, actionId);
  }, 60_000);

  it('catches a corrupted chunk and fetches it again', async () => {
    const v2 = image(40_000);
    const { actionId } = await deviceWithAction('mqtt-flip', await release(v2, '4.0.0'));
    const target = String(3 * CHUNK);
    let flipped = 0;
    bus.tamper = (topic, payload, options) => {
      if (topic.includes('CN=mqtt-flip,') && options.userProperties?.offset === target) {
        if (flipped++ === 0) {
          const bad = Buffer.from(payload);
          bad[100] = bad[100]! ^ 0x01;
          return bad;
        }
      }
      return payload;
    };
    const slotB = await runDevice('mqtt-flip', image(20_000));

    expect(flipped).toBe(2);
    expect(payloadOffsets('mqtt-flip').filter((o) => o === 3 * CHUNK)).toHaveLength(2);
    await expectInstalled(slotB, v2, actionId);
  }, 60_000);

  it('fails with AGENT_CHUNK_CORRUPT and installs nothing when a chunk stays corrupted', async () => {
    const v2 = image(40_000);
    const { actionId } = await deviceWithAction('mqtt-rot', await release(v2, '5.0.0'));
    const target = String(2 * CHUNK);
    bus.tamper = (topic, payload, options) => {
      if (topic.includes('CN=mqtt-rot,') && options.userProperties?.offset === target) {
        const bad = Buffer.from(payload);
        bad[7] = bad[7]! ^ 0x80;
        return bad;
      }
      return payload;
    };
    await runDevice('mqtt-rot', image(20_000), { chunkRetries: 2 });

    // One try and two retries of the bad chunk, then the action failed with the typed code.
    expect(payloadOffsets('mqtt-rot').filter((o) => o === 2 * CHUNK)).toHaveLength(3);
    expect(payloadOffsets('mqtt-rot').some((o) => o > 2 * CHUNK)).toBe(false);
    const feedback = bus.seen.filter((r) => r.device === 'mqtt-rot' && r.op === 'feedback');
    expect(feedback.map((r) => r.status)).not.toContain('installing');
    expect(feedback.at(-1)).toMatchObject({ status: 'failure', code: 'AGENT_CHUNK_CORRUPT' });
    expect((await api<{ state: string }>('GET', `/api/v1/actions/${actionId}`)).state).toBe(
      'failure',
    );
  }, 60_000);
});

/** One raw request of device `name` over its own connection; resolves with the answer. */
async function ask(
  client: MqttClient,
  name: string,
  body: Buffer | string | object,
  properties: Record<string, unknown> = {},
): Promise<{ status: number; json: Record<string, unknown>; props: Record<string, string> }> {
  const root = deviceTopicRoot(TENANT, name);
  await client.subscribeAsync(`${root}/res`, { qos: 1 });
  const id = randomBytes(8);
  const answer = new Promise<{ payload: Buffer; props: Record<string, string> }>(
    (resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer')), 5_000);
      const onMessage = (
        topic: string,
        payload: Buffer,
        packet: { properties?: { correlationData?: Buffer; userProperties?: object } },
      ) => {
        if (topic !== `${root}/res` || !packet.properties?.correlationData?.equals(id)) return;
        clearTimeout(timer);
        client.removeListener('message', onMessage);
        resolve({ payload, props: (packet.properties.userProperties ?? {}) as never });
      };
      client.on('message', onMessage);
    },
  );
  const bytes =
    typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body as object);
  await client.publishAsync(`${root}/req`, bytes, {
    qos: 1,
    properties: { correlationData: id, ...properties },
  });
  const { payload, props } = await answer;
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(payload.toString()) as Record<string, unknown>;
  } catch {
    // A payload chunk: raw bytes.
  }
  return { status: Number(props.status), json, props };
}

describe('updraft agent run --transport mqtt', () => {
  /** Runs the CLI in-process; resolves with its exit code and what it wrote. */
  async function cli(argv: string[]) {
    let out = '';
    const sink = { write: (c: string) => (out += c) };
    const code = await runCli(argv, { stdout: sink, stderr: sink, env: {}, cwd: dir });
    return { code, out };
  }

  it('updates a device over MQTT only through the CLI', async () => {
    const v2 = image(30_000);
    const { actionId } = await deviceWithAction('mqtt-cli', await release(v2, '9.0.0'));
    const device = await prepareDevice('mqtt-cli', image(20_000));
    // The CLI reads the same config the agent would (as a file).
    const file = join(device.home, 'agent.json');
    await writeFile(
      file,
      JSON.stringify({
        server: { url: 'http://127.0.0.1:9', token: 'unused-over-mqtt' },
        device: { vendorId, classId },
        trustedKeys: ['release.pub'],
        stateDir: 'state',
        slots: {
          a: { path: 'a.img', size: 256 * 1024 },
          b: { path: 'b.img', size: 256 * 1024 },
          sectorSize: 4096,
        },
        installed: { version: '1.0.0', sequenceNumber: 1, size: 20_000 },
      }),
    );
    const run = await cli([
      'agent',
      'run',
      '--config',
      file,
      '--once',
      '--transport',
      'mqtt',
      '--mqtt-url',
      broker.url,
      '--mqtt-identity',
      `CN=mqtt-cli,O=${TENANT}`,
    ]);
    expect(run.code, run.out).toBe(0);
    const slotB = await readFile(join(device.home, 'b.img'));
    await expectInstalled(slotB, v2, actionId);
    expect(payloadOffsets('mqtt-cli').length).toBeGreaterThan(0);
  }, 60_000);

  it('refuses a malformed identity or mqtts:// without a pinned CA (CLI_USAGE, exit 2)', async () => {
    const device = await prepareDevice('mqtt-cli-bad', image(1000));
    const file = join(device.home, 'agent.json');
    await writeFile(
      file,
      JSON.stringify({
        server: { url: 'http://127.0.0.1:9', token: 'unused-over-mqtt' },
        device: { vendorId, classId },
        trustedKeys: ['release.pub'],
        stateDir: 'state',
        slots: { a: { path: 'a.img', size: 65536 }, b: { path: 'b.img', size: 65536 } },
      }),
    );
    const base = ['agent', 'run', '--config', file, '--once', '--transport', 'mqtt'];
    const bad = await cli([...base, '--mqtt-url', broker.url, '--mqtt-identity', 'mqtt-cli-bad']);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('CN=<device name>,O=<tenant id>');
    const noCa = await cli([
      ...base,
      '--mqtt-url',
      'mqtts://127.0.0.1:1',
      '--mqtt-identity',
      `CN=mqtt-cli-bad,O=${TENANT}`,
    ]);
    expect(noCa.code).toBe(2);
    expect(noCa.out).toContain('--mqtt-ca');
  });
});

describe('delta over MQTT', () => {
  it('updates a device on the base version through the patch, in chunks over MQTT', async () => {
    // Firmware-like: the next version changes a few hundred bytes of a 120 KB image.
    const v1 = new Uint8Array(120_000).map((_, i) => (i * 31 + (i >> 7)) & 0xff);
    const v2 = v1.slice();
    for (let i = 50_000; i < 50_400; i++) v2[i] = (v2[i]! + 1) & 0xff;
    await release(v1, '7.0.0');
    const target = await release(v2, '7.1.0');
    await api('PUT', `/api/v1/releases/${target}/delta-bases`, {
      bases: ['7.0.0'],
      anyInstalled: false,
    });
    const view = () =>
      api<{ patches: { state: string }[]; deliveries: number }>(
        'GET',
        `/api/v1/releases/${target}/deltas`,
      );
    await expect
      .poll(async () => (await view()).patches[0]?.state, { timeout: 30_000 })
      .toBe('ready');
    const { actionId } = await deviceWithAction('mqtt-delta', target);
    const slotB = await runDevice('mqtt-delta', v1);

    await expectInstalled(slotB, v2, actionId);
    const paths = bus.seen
      .filter((r) => r.device === 'mqtt-delta' && r.op === 'payload')
      .map((r) => r.path);
    expect(paths.length).toBeGreaterThan(0);
    // Only the patch went over the wire, and its last chunk counted as a delivery.
    expect(paths.every((p) => p?.startsWith('/api/device/v1/deltas/'))).toBe(true);
    await expect.poll(async () => (await view()).deliveries).toBe(1);
  }, 60_000);
});

describe('device API over MQTT refuses bad requests with typed problems', () => {
  let probe: MqttClient;
  let other: MqttClient;
  let url: string;
  let size: number;

  beforeAll(async () => {
    const v2 = image(10_000);
    size = v2.length;
    const releaseId = await release(v2, '6.0.0');
    await deviceWithAction('mqtt-probe', releaseId);
    await deviceWithAction('mqtt-other', releaseId);
    probe = await connectDevice('mqtt-probe');
    other = await connectDevice('mqtt-other');
    const checkIn = await ask(probe, 'mqtt-probe', { op: 'check-in', report: {} });
    expect(checkIn.status).toBe(200);
    const body = checkIn.json.body as { action: { payloads: { url: string }[] } };
    url = body.action.payloads[0]!.url;
  });

  afterAll(async () => {
    await probe?.endAsync(true);
    await other?.endAsync(true);
  });

  it('answers a good chunk with its bytes, offset, length, total and SHA-256', async () => {
    const res = await ask(probe, 'mqtt-probe', { op: 'payload', url, offset: 100, length: 1000 });
    expect(res.status).toBe(200);
    expect(res.props).toMatchObject({ offset: '100', length: '1000', total: String(size) });
    expect(res.props.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a payload URL with a bad signature (DEVICE_URL_INVALID)', async () => {
    const forged = url.replace(/sig=([^&])/, (_, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`);
    expect(forged).not.toBe(url);
    const res = await ask(probe, 'mqtt-probe', {
      op: 'payload',
      url: forged,
      offset: 0,
      length: 1024,
    });
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ code: 'DEVICE_URL_INVALID', title: 'Forbidden' });
  });

  it("refuses another device's URL (DEVICE_URL_INVALID)", async () => {
    const res = await ask(other, 'mqtt-other', { op: 'payload', url, offset: 0, length: 1024 });
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ code: 'DEVICE_URL_INVALID' });
    expect(String(res.json.detail)).toContain('another device');
  });

  it('refuses a chunk over mqtt.chunkMaxBytes (MQTT_CHUNK_TOO_LARGE)', async () => {
    const res = await ask(probe, 'mqtt-probe', {
      op: 'payload',
      url,
      offset: 0,
      length: 16 * 1024 + 1,
    });
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ code: 'MQTT_CHUNK_TOO_LARGE' });
  });

  it('refuses an offset past the end (DEVICE_RANGE_NOT_SATISFIABLE)', async () => {
    const res = await ask(probe, 'mqtt-probe', {
      op: 'payload',
      url,
      offset: size + 1,
      length: 10,
    });
    expect(res.status).toBe(416);
    expect(res.json).toMatchObject({ code: 'DEVICE_RANGE_NOT_SATISFIABLE' });
  });

  it('refuses malformed JSON and unknown operations (MQTT_REQUEST_INVALID)', async () => {
    for (const bad of ['{"op":', '[]', '{"op":"reboot"}', '{"op":"payload","url":"x"}']) {
      const res = await ask(probe, 'mqtt-probe', bad);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ code: 'MQTT_REQUEST_INVALID', title: 'Bad Request' });
    }
  });

  it('refuses a device the service does not know (MQTT_DEVICE_REFUSED)', async () => {
    const ghost = await connectDevice('ghost');
    try {
      const res = await ask(ghost, 'ghost', { op: 'check-in', report: {} });
      expect(res.status).toBe(403);
      expect(res.json).toMatchObject({ code: 'MQTT_DEVICE_REFUSED' });
    } finally {
      await ghost.endAsync(true);
    }
  });

  it("answers on the requester's own topic whatever responseTopic says", async () => {
    const stolen: Buffer[] = [];
    const otherRes = `${deviceTopicRoot(TENANT, 'mqtt-other')}/res`;
    await other.subscribeAsync(otherRes, { qos: 1 });
    const spy = (topic: string, payload: Buffer) => {
      if (topic === otherRes) stolen.push(payload);
    };
    other.on('message', spy);
    const res = await ask(
      probe,
      'mqtt-probe',
      { op: 'check-in', report: {} },
      {
        responseTopic: otherRes,
      },
    );
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    other.removeListener('message', spy);
    expect(stolen).toHaveLength(0);
  });

  it('answers any bytes with a problem, and keeps answering', async () => {
    for (let i = 0; i < 20; i++) {
      const res = await ask(probe, 'mqtt-probe', randomBytes(1 + ((i * 37) % 300)));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(String(res.json.code)).toMatch(/^MQTT_REQUEST_/);
    }
    expect((await ask(probe, 'mqtt-probe', { op: 'check-in', report: {} })).status).toBe(200);
  });
});

// The same device API through the embedded broker (aedes, MQTT 3.1.1 over TLS 1.3): the device
// authenticates with its token, pins the service's CA, and requests and answers carry their
// correlation in-band (no MQTT 5 properties on this broker).
describe('firmware over MQTT through the embedded broker', () => {
  let embedded: Service;
  let url: string;
  let ca: string;

  beforeAll(async () => {
    embedded = await boot('embedded', { mode: 'embedded', host: '127.0.0.1', port: 0 });
    const port = await embedded.app.wiring.mqtt.start();
    url = `mqtts://127.0.0.1:${port}`;
    ca = await readFile(join(dir, 'embedded', 'pki', 'ca.pem'), 'utf8');
  }, 60_000);

  afterAll(async () => {
    await embedded?.app.close();
  });

  beforeEach(() => {
    svc = embedded;
  });

  it('updates a token-authenticated device over the embedded broker only', async () => {
    const v2 = image(30_000);
    const { actionId, token } = await deviceWithAction('mqtt-embedded', await release(v2, '8.0.0'));
    const before = await api<{ state: string }>('GET', `/api/v1/actions/${actionId}`);
    expect(before.state).not.toBe('success');
    const device = await prepareDevice('mqtt-embedded', image(20_000));
    const slotB = await runAgent(device, {
      protocolVersion: 4,
      connect: () =>
        openMqttConnection({
          url,
          ca,
          token,
          identity: deviceMqttIdentity(TENANT, 'mqtt-embedded'),
          protocolVersion: 4,
          reconnectMs: 200,
        }),
    });

    await expectInstalled(slotB, v2, actionId);
    const metrics = (await svc.app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = metrics
      .split('\n')
      .find((l) => l.startsWith('updraft_downloads_total{kind="mqtt_chunk"}'));
    expect(Number(line?.split(' ')[1])).toBe(Math.ceil(v2.length / CHUNK));
  }, 60_000);
});
