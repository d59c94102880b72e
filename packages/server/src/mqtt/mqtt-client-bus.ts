import { connectAsync, type IClientOptions } from 'mqtt';
import type { MqttBus, MqttMessage, MqttPublishOptions } from './mqtt-bus.js';

/** The few methods of an mqtt.js client the bus calls (so the port stays vendor-free). */
interface MqttClientLike {
  publishAsync(topic: string, payload: Buffer | string, options: object): Promise<unknown>;
  subscribeAsync(topic: string, options: object): Promise<unknown>;
  unsubscribeAsync(topic: string): Promise<unknown>;
  endAsync(force?: boolean): Promise<void>;
  on(
    event: 'message',
    listener: (
      topic: string,
      payload: Buffer,
      packet: { properties?: Record<string, unknown> },
    ) => void,
  ): unknown;
}

/**
 * {@link MqttBus} over an MQTT 5 client connection to an external broker (Mosquitto). Filters are
 * subscribed as shared subscriptions (`$share/updraft/<filter>`), so replicas of the service
 * split the requests instead of each answering them.
 */
export class MqttClientBus implements MqttBus {
  readonly #client: MqttClientLike;
  readonly #handlers = new Set<{ filter: string; handler: (m: MqttMessage) => void }>();

  private constructor(client: MqttClientLike) {
    this.#client = client;
    client.on('message', (topic, payload, packet) => {
      const message = toMessage(topic, payload, packet.properties ?? {});
      for (const h of this.#handlers) if (topicMatches(h.filter, topic)) h.handler(message);
    });
  }

  /** Connects (MQTT 5, clean session) and resolves once the broker accepted the connection. */
  static async connect(url: string, options: IClientOptions = {}): Promise<MqttClientBus> {
    const client = await connectAsync(url, {
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...options,
    });
    return new MqttClientBus(client as unknown as MqttClientLike);
  }

  async publish(
    topic: string,
    payload: Buffer | string,
    options: MqttPublishOptions = {},
  ): Promise<void> {
    const properties: Record<string, unknown> = {};
    if (options.correlationData) properties.correlationData = options.correlationData;
    if (options.contentType) properties.contentType = options.contentType;
    if (options.userProperties) properties.userProperties = { ...options.userProperties };
    if (options.messageExpirySeconds !== undefined)
      properties.messageExpiryInterval = options.messageExpirySeconds;
    await this.#client.publishAsync(topic, payload, { qos: options.qos ?? 1, properties });
  }

  async subscribe(
    filter: string,
    handler: (message: MqttMessage) => void,
  ): Promise<() => Promise<void>> {
    const entry = { filter, handler };
    this.#handlers.add(entry);
    const shared = `$share/updraft/${filter}`;
    await this.#client.subscribeAsync(shared, { qos: 1 });
    return async () => {
      this.#handlers.delete(entry);
      await this.#client.unsubscribeAsync(shared);
    };
  }

  async close(): Promise<void> {
    this.#handlers.clear();
    await this.#client.endAsync();
  }
}

function toMessage(topic: string, payload: Buffer, p: Record<string, unknown>): MqttMessage {
  const user = p.userProperties as Record<string, string | string[]> | undefined;
  return {
    topic,
    payload,
    ...(Buffer.isBuffer(p.correlationData) ? { correlationData: p.correlationData } : {}),
    ...(typeof p.responseTopic === 'string' ? { responseTopic: p.responseTopic } : {}),
    ...(typeof p.contentType === 'string' ? { contentType: p.contentType } : {}),
    // A repeated user property arrives as an array: the first value is kept.
    ...(user
      ? {
          userProperties: Object.fromEntries(
            Object.entries(user).map(([k, v]) => [k, Array.isArray(v) ? String(v[0]) : String(v)]),
          ),
        }
      : {}),
  };
}

/** MQTT topic filter matching (`+` one level, `#` the rest). */
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
