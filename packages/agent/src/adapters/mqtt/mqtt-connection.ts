import mqtt, { type MqttClient } from 'mqtt';
import { fullJitterDelay } from '../../backoff.js';

/** How a device connects to its broker (docs/mqtt.md). */
export interface MqttConnectionOptions {
  /** `mqtts://host:port` (from the check-in answer's `push.url`). */
  readonly url: string;
  /** The pinned CA chain (PEM): the only trust for the broker's certificate. */
  readonly ca: string | Buffer;
  /** The device's certificate and key (mTLS), or … */
  readonly certificate?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** … the device token as the password (where the tenant allows bearer tokens). */
  readonly token?: string;
  /** The device's MQTT identity `CN=<name>,O=<tenant>` (username with a token). */
  readonly identity?: string;
  /** MQTT protocol: 5 (Mosquitto) or 4 (3.1.1; the embedded aedes broker). Default 4. */
  readonly protocolVersion?: 4 | 5;
  /** Shortest reconnect delay; the jittered ceiling doubles up to 60 s on repeated failures. */
  readonly reconnectMs?: number;
  readonly clientId?: string;
}

const MAX_RECONNECT_MS = 60_000;

/**
 * Opens the device's MQTT connection: TLS 1.3 minimum, the pinned CA as the only trust, the
 * device certificate (or the token as password), reconnecting with the agent's jittered exponential backoff. Shared
 * by push notices and the device API over MQTT. Resolves once connected (or rejects on the first
 * failure; later losses reconnect on their own).
 */
export async function openMqttConnection(options: MqttConnectionOptions): Promise<MqttClient> {
  const base = options.reconnectMs ?? 1_000;
  const client = mqtt.connect(options.url, {
    protocolVersion: options.protocolVersion ?? 4,
    clientId: options.clientId ?? `updraft-agent-${Math.random().toString(36).slice(2, 12)}`,
    clean: true,
    keepalive: 60,
    reconnectPeriod: base,
    connectTimeout: 10_000,
    // TLS options pass through to tls.connect (mqtt.js's type does not list them all).
    ...({ minVersion: 'TLSv1.3' } as object),
    ca: options.ca,
    rejectUnauthorized: true,
    ...(options.certificate
      ? { cert: options.certificate.cert, key: options.certificate.key }
      : {}),
    ...(options.token !== undefined
      ? { username: options.identity ?? 'device', password: options.token }
      : {}),
  });
  // The agent's backoff (full jitter, so a fleet does not return in waves after a broker restart),
  // floored at `base`: a reconnectPeriod of 0 would stop mqtt.js reconnecting. A connection resets it.
  let failures = 0;
  client.on('close', () => {
    failures += 1;
    const jittered = fullJitterDelay(failures, base, MAX_RECONNECT_MS, Math.random);
    client.options.reconnectPeriod = Math.max(base, jittered);
  });
  client.on('connect', () => {
    failures = 0;
    client.options.reconnectPeriod = base;
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      client.end(true);
      reject(error);
    };
    client.once('connect', () => {
      client.off('error', onError);
      client.on('error', () => undefined); // later errors: the reconnect loop handles them
      resolve();
    });
    client.once('error', onError);
  });
  return client;
}
