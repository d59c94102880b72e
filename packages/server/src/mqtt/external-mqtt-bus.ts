import { readFile } from 'node:fs/promises';
import type { FastifyBaseLogger } from 'fastify';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { MqttBus, MqttMessage, MqttPublishOptions } from './mqtt-bus.js';

/** Where and how the service connects to an external broker (`mqtt.*` settings). */
export interface ExternalMqttBusOptions {
  readonly url: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly logger: FastifyBaseLogger;
  /** Client id (default `updraft-<random>`; replicas must differ). */
  readonly clientId?: string;
}

/** Every replica shares one subscription per filter, so a request is handled once. */
const SHARE_GROUP = '$share/updraft/';

/**
 * The service's side on an external broker such as Mosquitto (docs/mqtt.md): one MQTT 5 client
 * with the service's own certificate, reconnecting on its own (mqtt.js keeps QoS 1 messages
 * queued while it is away). Subscriptions are shared (`$share/updraft/<filter>`).
 */
export class ExternalMqttBus implements MqttBus {
  readonly #handlers = new Map<string, Set<(message: MqttMessage) => void>>();

  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const props = packet.properties;
      const message: MqttMessage = {
        topic,
        payload,
        ...(props?.correlationData ? { correlationData: props.correlationData } : {}),
        ...(props?.responseTopic ? { responseTopic: props.responseTopic } : {}),
        ...(props?.contentType ? { contentType: props.contentType } : {}),
        ...(props?.userProperties
          ? { userProperties: flattenUserProperties(props.userProperties) }
          : {}),
      };
      for (const [filter, handlers] of this.#handlers)
        if (topicMatches(filter, topic)) for (const handler of handlers) handler(message);
    });
  }

  /** Connects (TLS 1.3 minimum for `mqtts://`); resolves on the first CONNACK. */
  static async connect(options: ExternalMqttBusOptions): Promise<ExternalMqttBus> {
    const tls = options.url.startsWith('mqtts:');
    const [cert, key, ca] = await Promise.all(
      [options.certFile, options.keyFile, options.caFile].map((f) =>
        f === '' ? undefined : readFile(f),
      ),
    );
    const client = mqtt.connect(options.url, {
      protocolVersion: 5,
      clientId: options.clientId ?? `updraft-${Math.random().toString(36).slice(2, 12)}`,
      clean: true,
      reconnectPeriod: 1_000,
      connectTimeout: 10_000,
      ...(tls
        ? {
            minVersion: 'TLSv1.3' as const,
            ...(cert ? { cert } : {}),
            ...(key ? { key } : {}),
            ...(ca ? { ca } : {}),
            rejectUnauthorized: true,
          }
        : {}),
    });
    client.on('error', (error) => options.logger.warn({ err: error }, 'mqtt: broker error'));
    client.on('offline', () => options.logger.warn('mqtt: broker unreachable, reconnecting'));
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => {
        client.end(true);
        reject(error);
      };
      client.once('connect', () => {
        client.off('error', onError);
        resolve();
      });
      client.once('error', onError);
    });
    return new ExternalMqttBus(client);
  }

  publish(topic: string, payload: Buffer | string, options?: MqttPublishOptions): Promise<void> {
    const properties: NonNullable<IClientPublishOptions['properties']> = {
      ...(options?.correlationData ? { correlationData: options.correlationData } : {}),
      ...(options?.contentType ? { contentType: options.contentType } : {}),
      ...(options?.userProperties ? { userProperties: { ...options.userProperties } } : {}),
      ...(options?.messageExpirySeconds !== undefined
        ? { messageExpiryInterval: options.messageExpirySeconds }
        : {}),
    };
    return new Promise((resolve, reject) => {
      this.client.publish(topic, payload, { qos: options?.qos ?? 0, properties }, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  }

  async subscribe(
    filter: string,
    handler: (message: MqttMessage) => void,
  ): Promise<() => Promise<void>> {
    let handlers = this.#handlers.get(filter);
    if (handlers === undefined) {
      handlers = new Set();
      this.#handlers.set(filter, handlers);
      await this.client.subscribeAsync(`${SHARE_GROUP}${filter}`, { qos: 1 });
    }
    handlers.add(handler);
    return async () => {
      handlers.delete(handler);
      if (handlers.size === 0 && this.#handlers.get(filter) === handlers) {
        this.#handlers.delete(filter);
        await this.client.unsubscribeAsync(`${SHARE_GROUP}${filter}`);
      }
    };
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

function flattenUserProperties(props: Record<string, string | string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(props)) out[k] = Array.isArray(v) ? (v[0] ?? '') : v;
  return out;
}

/** MQTT filter matching (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
