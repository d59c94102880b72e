import { createHash } from 'node:crypto';
import { MqttTransport } from '@updraft/agent';
import { deviceTopicRoot } from '@updraft/core';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Mosquitto, startMosquitto } from './mosquitto-fixture.js';

// The agent's MQTT transport against a hostile service on a real Mosquitto: every answer that
// lies about a chunk, a status or a shape is caught with a typed AgentError, as over HTTP.

const ROOT = deviceTopicRoot('ten_default', 'hostile-dev');
type Reply = (request: Record<string, unknown>) => {
  body: Buffer | string;
  props?: Record<string, string>;
} | null;

let broker: Mosquitto;
let service: MqttClient;
let device: MqttClient;
let reply: Reply;
const requests: Record<string, unknown>[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  service = await connectAsync(broker.url, { protocolVersion: 5 });
  device = await connectAsync(broker.url, { protocolVersion: 5 });
  await service.subscribeAsync(`${ROOT}/req`, { qos: 1 });
  service.on('message', (_topic, payload, packet) => {
    const request = JSON.parse(payload.toString()) as Record<string, unknown>;
    requests.push(request);
    const answer = reply(request);
    if (answer === null) return;
    void service.publishAsync(`${ROOT}/res`, answer.body, {
      qos: 1,
      properties: {
        correlationData: packet.properties?.correlationData as Buffer,
        userProperties: answer.props ?? { status: '200' },
      },
    });
  });
});

afterAll(async () => {
  await device?.endAsync(true);
  await service?.endAsync(true);
  await broker?.close();
});

beforeEach(() => {
  requests.length = 0;
});

const image = Buffer.alloc(10_000, 7);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An honest chunk answer for `request`, then `lie` applied to its properties. */
function chunk(request: Record<string, unknown>, lie: Record<string, string> = {}) {
  const offset = request.offset as number;
  const body = image.subarray(offset, Math.min(offset + (request.length as number), image.length));
  return {
    body,
    props: {
      status: '200',
      offset: String(offset),
      length: String(body.length),
      total: String(image.length),
      sha256: sha(body),
      ...lie,
    },
  };
}

function transport(options: { chunkRetries?: number; requestTimeoutMs?: number } = {}) {
  return new MqttTransport({ client: device, topicRoot: ROOT, chunkBytes: 4096, ...options });
}

async function drain(t: MqttTransport, offset = 0): Promise<Buffer> {
  const response = await t.openPayload('/p', offset, new AbortController().signal);
  const parts: Uint8Array[] = [];
  for await (const part of response.body) parts.push(part);
  return Buffer.concat(parts);
}

describe('MqttTransport against a hostile service', () => {
  it('reads an honest payload in chunks from the asked offset', async () => {
    reply = (r) => chunk(r);
    const t = transport();
    expect((await drain(t, 4096)).equals(image.subarray(4096))).toBe(true);
    expect(requests.map((r) => r.offset)).toEqual([4096, 8192]);
    t.close();
  });

  it.each([
    ['offset', { offset: '4097' }],
    ['length', { length: '4095' }],
    ['total', { total: '10' }],
    ['sha256', { sha256: '0'.repeat(64) }],
  ])(
    'refuses a chunk whose %s lies, after its retries (AGENT_CHUNK_CORRUPT)',
    async (check, lie) => {
      reply = (r) => (r.offset === 4096 ? chunk(r, lie) : chunk(r));
      const t = transport({ chunkRetries: 1 });
      await expect(drain(t)).rejects.toMatchObject({
        code: 'AGENT_CHUNK_CORRUPT',
        details: { offset: 4096, attempts: 2, check },
      });
      expect(requests.filter((r) => r.offset === 4096)).toHaveLength(2);
      t.close();
    },
  );

  it('refuses a total that changes mid-download (AGENT_RESPONSE_INVALID)', async () => {
    reply = (r) => {
      const honest = chunk(r);
      if (r.offset === 0) return honest;
      // Self-consistent, but for a longer resource than the first chunk said.
      return { ...honest, props: { ...honest.props, total: String(image.length + 1) } };
    };
    const t = transport();
    await expect(drain(t)).rejects.toMatchObject({ code: 'AGENT_RESPONSE_INVALID' });
    t.close();
  });

  it('maps refusals like HTTP: 403 → AGENT_AUTH_REJECTED, 500 → AGENT_SERVER_ERROR with the code', async () => {
    const t = transport();
    reply = () => ({
      body: JSON.stringify({ code: 'DEVICE_URL_EXPIRED' }),
      props: { status: '403' },
    });
    await expect(t.openPayload('/p', 0, new AbortController().signal)).rejects.toMatchObject({
      code: 'AGENT_AUTH_REJECTED',
      details: { status: 403, code: 'DEVICE_URL_EXPIRED' },
    });
    reply = () => ({ body: 'not json', props: { status: '500' } });
    await expect(t.fetchEnvelope('/e', 1000)).rejects.toMatchObject({
      code: 'AGENT_SERVER_ERROR',
      details: { status: 500, code: null },
    });
    t.close();
  });

  it('refuses a bad check-in shape, an oversized envelope and an answer without status', async () => {
    const t = transport({ requestTimeoutMs: 1_000 });
    reply = () => ({ body: JSON.stringify({ status: 200, body: { action: 'x' } }) });
    await expect(t.checkIn({ components: [] }, null)).rejects.toMatchObject({
      code: 'AGENT_RESPONSE_INVALID',
    });
    reply = () => ({ body: Buffer.alloc(2000) });
    await expect(t.fetchEnvelope('/e', 1000)).rejects.toMatchObject({
      code: 'AGENT_ENVELOPE_TOO_LARGE',
    });
    reply = () => ({ body: '{}', props: { status: 'ok' } });
    await expect(t.fetchEnvelope('/e', 1000)).rejects.toMatchObject({
      code: 'AGENT_RESPONSE_INVALID',
    });
    t.close();
  });

  it('gives up on a service that never answers (AGENT_SERVER_UNREACHABLE)', async () => {
    reply = () => null;
    const t = transport({ requestTimeoutMs: 300 });
    await expect(t.checkIn({ components: [] }, null)).rejects.toMatchObject({
      code: 'AGENT_SERVER_UNREACHABLE',
    });
    t.close();
  });
});
