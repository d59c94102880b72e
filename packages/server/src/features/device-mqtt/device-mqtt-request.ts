import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { ServerError } from '../../errors.js';
import { CheckInBody, FeedbackBody } from '../device-api/device-api.schemas.js';

/** The operations of the device API over MQTT (docs/mqtt.md#device-api-over-mqtt). */
export const DEVICE_MQTT_OPS = ['check-in', 'envelope', 'payload', 'feedback'] as const;
export type DeviceMqttOp = (typeof DEVICE_MQTT_OPS)[number];

/** Largest request accepted (a full check-in report is about 25 KiB at its bounds). */
export const MAX_REQUEST_BYTES = 64 * 1024;

const Url = Type.String({ minLength: 1, maxLength: 2048 });
/**
 * The request's own id, for brokers without MQTT 5 correlation data (the embedded aedes broker
 * speaks MQTT 3.1.1): the answer then carries it in its in-band header (see `frameAnswer`).
 */
const Id = Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }));
const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;
const Offset = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

const Requests = [
  Type.Object(
    {
      op: Type.Literal('check-in'),
      id: Id,
      /** The `etag` of the previous 200 answer (HTTP's If-None-Match). */
      ifNoneMatch: Type.Optional(Type.String({ maxLength: 1024 })),
      report: CheckInBody,
    },
    { additionalProperties: false },
  ),
  Type.Object({ op: Type.Literal('envelope'), id: Id, url: Url }, { additionalProperties: false }),
  Type.Object(
    {
      op: Type.Literal('payload'),
      id: Id,
      url: Url,
      offset: Offset,
      length: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      op: Type.Literal('feedback'),
      id: Id,
      actionId: Type.String({ pattern: '^act_[A-Za-z0-9_-]{1,64}$' }),
      report: FeedbackBody,
    },
    { additionalProperties: false },
  ),
] as const;
const Request = Type.Union([...Requests]);

// One validator per operation, so a refusal names the fields of the operation asked for.
const checks = Object.fromEntries(
  DEVICE_MQTT_OPS.map((op, i) => [op, Compile(Requests[i]!)]),
) as Record<DeviceMqttOp, ReturnType<typeof Compile>>;

/** One checked request. */
export type DeviceMqttRequest = Static<typeof Request>;

/** One request payload, read once: its in-band id and the checked request (or why it is not one). */
export interface ReadDeviceMqttRequest {
  /**
   * The in-band `id`, when well formed: read even from a request that fails its checks, so that
   * its problem answer still reaches the waiting device.
   */
  readonly id: string | null;
  readonly request: DeviceMqttRequest | ServerError;
}

/**
 * Parses one request payload: at most {@link MAX_REQUEST_BYTES} of UTF-8 JSON matching one of
 * the operations, a payload `length` at most `chunkMaxBytes`. Any other input throws a typed
 * `ServerError` (`MQTT_REQUEST_TOO_LARGE`, `MQTT_REQUEST_INVALID`, `MQTT_CHUNK_TOO_LARGE`), never
 * anything else.
 */
export function parseDeviceMqttRequest(
  payload: Uint8Array,
  chunkMaxBytes: number,
): DeviceMqttRequest {
  const { request } = readDeviceMqttRequest(payload, chunkMaxBytes);
  if (request instanceof ServerError) throw request;
  return request;
}

/** {@link parseDeviceMqttRequest} with the in-band id, the payload decoded and parsed once. */
export function readDeviceMqttRequest(
  payload: Uint8Array,
  chunkMaxBytes: number,
): ReadDeviceMqttRequest {
  if (payload.length > MAX_REQUEST_BYTES) {
    return {
      id: null,
      request: new ServerError(
        'MQTT_REQUEST_TOO_LARGE',
        `requests are at most ${MAX_REQUEST_BYTES} bytes`,
      ),
    };
  }
  const invalid = new ServerError('MQTT_REQUEST_INVALID', 'the request is not UTF-8 JSON');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    // Not UTF-8: refused, but an id in what decodes still gets the problem to the device.
    return { id: idOf(parseOrUndefined(Buffer.from(payload).toString('utf8'))), request: invalid };
  }
  const value = parseOrUndefined(text);
  if (value === undefined) return { id: null, request: invalid };
  return { id: idOf(value), request: checkRequest(value, chunkMaxBytes) };
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function idOf(value: unknown): string | null {
  const id = (value as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' && REQUEST_ID.test(id) ? id : null;
}

function checkRequest(value: unknown, chunkMaxBytes: number): DeviceMqttRequest | ServerError {
  const op = (value as { op?: unknown } | null)?.op;
  if (typeof op !== 'string' || !(DEVICE_MQTT_OPS as readonly string[]).includes(op)) {
    return new ServerError(
      'MQTT_REQUEST_INVALID',
      `op must be one of ${DEVICE_MQTT_OPS.join(', ')}`,
    );
  }
  const check = checks[op as DeviceMqttOp];
  if (!check.Check(value)) {
    const first = [...check.Errors(value)][0];
    return new ServerError(
      'MQTT_REQUEST_INVALID',
      `the ${op} request is invalid${first ? ` at ${first.instancePath || '/'}: ${first.message}` : ''}`,
    );
  }
  const request = value as DeviceMqttRequest;
  if (request.op === 'payload' && request.length > chunkMaxBytes) {
    return new ServerError('MQTT_CHUNK_TOO_LARGE', `chunks are at most ${chunkMaxBytes} bytes`, {
      details: { chunkMaxBytes },
    });
  }
  return request;
}
