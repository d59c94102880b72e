import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ServerError } from '../../errors.js';
import { MAX_REQUEST_BYTES, parseDeviceMqttRequest } from './device-mqtt-request.js';

const CHUNK_MAX = 65_536;
const REFUSALS = ['MQTT_REQUEST_INVALID', 'MQTT_REQUEST_TOO_LARGE', 'MQTT_CHUNK_TOO_LARGE'];

/** Parses or returns the typed refusal; anything else thrown fails the test. */
function outcome(bytes: Uint8Array): { ok: true; op: string } | { ok: false; code: string } {
  try {
    return { ok: true, op: parseDeviceMqttRequest(bytes, CHUNK_MAX).op };
  } catch (error) {
    expect(error).toBeInstanceOf(ServerError);
    const code = (error as ServerError).code;
    expect(REFUSALS).toContain(code);
    expect((error as ServerError).exposable).toBe(true);
    return { ok: false, code };
  }
}

const text = (s: string) => new TextEncoder().encode(s);

describe('device API over MQTT: request parser', () => {
  it('answers any bytes with a parsed request or a typed MQTT_* refusal, never a crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        outcome(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('answers any JSON, and near-valid requests, the same way', () => {
    const field = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.integer(),
      fc.double(),
      fc.string({ maxLength: 300 }),
      fc.constant(null),
    );
    const nearValid = fc.record(
      {
        op: fc.oneof(
          fc.constantFrom('check-in', 'envelope', 'payload', 'feedback'),
          fc.string({ maxLength: 10 }),
        ),
        url: fc.oneof(fc.string({ maxLength: 3000 }), field),
        offset: fc.oneof(fc.integer({ min: -10, max: 2 ** 53 }), field),
        length: fc.oneof(fc.integer({ min: -10, max: 2 * CHUNK_MAX }), field),
        report: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant({})),
        actionId: fc.oneof(fc.constant('act_abc'), fc.string({ maxLength: 80 })),
        ifNoneMatch: field,
      },
      { requiredKeys: ['op'] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), nearValid), (value) => {
        outcome(text(JSON.stringify(value) ?? 'undefined'));
      }),
      { numRuns: 2000 },
    );
  });

  it('takes the four operations in their documented shapes', () => {
    expect(outcome(text('{"op":"check-in","report":{}}'))).toEqual({ ok: true, op: 'check-in' });
    expect(
      outcome(text('{"op":"check-in","ifNoneMatch":"\\"x\\"","report":{"components":[]}}')),
    ).toEqual({ ok: true, op: 'check-in' });
    expect(
      outcome(text('{"op":"envelope","url":"/api/device/v1/actions/act_1/envelope"}')),
    ).toEqual({ ok: true, op: 'envelope' });
    expect(outcome(text('{"op":"payload","url":"/x","offset":0,"length":65536}'))).toEqual({
      ok: true,
      op: 'payload',
    });
    expect(
      outcome(
        text(
          '{"op":"feedback","actionId":"act_1","report":{"reportId":"r-000001","status":"downloading"}}',
        ),
      ),
    ).toEqual({ ok: true, op: 'feedback' });
  });

  it('takes an in-band id on every operation (brokers without MQTT 5)', () => {
    const id = '0123456789abcdef0123456789abcdef';
    for (const request of [
      { op: 'check-in', id, report: {} },
      { op: 'envelope', id, url: '/api/device/v1/actions/act_1/envelope' },
      { op: 'payload', id, url: '/x', offset: 0, length: 1 },
      {
        op: 'feedback',
        id,
        actionId: 'act_1',
        report: { reportId: 'r-000001', status: 'downloading' },
      },
    ]) {
      expect(outcome(text(JSON.stringify(request)))).toEqual({ ok: true, op: request.op });
    }
    expect(outcome(text(JSON.stringify({ op: 'check-in', id: 'no spaces', report: {} })))).toEqual({
      ok: false,
      code: 'MQTT_REQUEST_INVALID',
    });
  });

  it('refuses each kind of bad input with its own code', () => {
    expect(outcome(text('{"op":'))).toEqual({ ok: false, code: 'MQTT_REQUEST_INVALID' });
    expect(outcome(new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]))).toEqual({
      ok: false,
      code: 'MQTT_REQUEST_INVALID',
    });
    expect(outcome(text('{"op":"payload","url":"/x","offset":0,"length":65537}'))).toEqual({
      ok: false,
      code: 'MQTT_CHUNK_TOO_LARGE',
    });
    expect(outcome(text('{"op":"payload","url":"/x","offset":-1,"length":1}'))).toEqual({
      ok: false,
      code: 'MQTT_REQUEST_INVALID',
    });
    expect(outcome(text('{"op":"check-in","report":{},"extra":1}'))).toEqual({
      ok: false,
      code: 'MQTT_REQUEST_INVALID',
    });
    expect(outcome(new Uint8Array(MAX_REQUEST_BYTES + 1).fill(0x20))).toEqual({
      ok: false,
      code: 'MQTT_REQUEST_TOO_LARGE',
    });
  });
});
