import type { PushEndpoint } from '@updraft/core';
import type { MqttClient } from 'mqtt';
import type { Logger } from '../../ports/logger.js';
import { type MqttConnectionOptions, openMqttConnection } from './mqtt-connection.js';
import { subscribePush } from './push-subscriber.js';

/** How the device authenticates to the broker (the pinned CA is the only trust). */
export type PushCredentials = Omit<MqttConnectionOptions, 'url'>;

/**
 * The agent's push channel (docs/mqtt.md): told the endpoint by every check-in answer that
 * carries `push`, it connects (once, again only when the endpoint changes), subscribes to the
 * notify topic and calls `onNotice` (the agent's `wake`) for each notice. A broker that cannot be
 * reached costs nothing but a log line: polling goes on as before.
 */
export class PushChannel {
  #endpoint: string | undefined;
  #client: MqttClient | undefined;
  #stop: (() => Promise<void>) | undefined;
  #opening: Promise<void> | undefined;
  #closed = false;

  constructor(
    /** Asked at every connection: a rotated device certificate replaces the old one. */
    private readonly credentials: () => PushCredentials,
    private readonly onNotice: () => void,
    private readonly logger?: Logger,
  ) {}

  /** The endpoint of the latest check-in answer. */
  offer(endpoint: PushEndpoint): void {
    const key = `${endpoint.url} ${endpoint.topicRoot}`;
    if (this.#closed || key === this.#endpoint) return;
    this.#endpoint = key;
    const previous = this.#opening ?? Promise.resolve();
    this.#opening = previous.then(() => this.#open(endpoint, key));
  }

  /** Resolves once the latest offered endpoint is subscribed (or failed). */
  async ready(): Promise<void> {
    await this.#opening;
  }

  get connected(): boolean {
    return this.#client?.connected === true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#opening?.catch(() => undefined);
    await this.#drop();
  }

  async #open(endpoint: PushEndpoint, key: string): Promise<void> {
    await this.#drop();
    if (this.#closed || key !== this.#endpoint) return;
    try {
      const client = await openMqttConnection({ ...this.credentials(), url: endpoint.url });
      // mqtt.js reconnects with the options of the first connect: give it the device's current
      // certificate each time, so a rotated one is presented once the old one is refused.
      client.on('close', () => {
        const { certificate } = this.credentials();
        if (certificate !== undefined) {
          Object.assign(client.options, { cert: certificate.cert, key: certificate.key });
        }
      });
      this.#client = client;
      this.#stop = await subscribePush(client, endpoint.topicRoot, () => this.onNotice());
      this.logger?.info({ url: endpoint.url }, 'push notices subscribed');
    } catch (error) {
      await this.#drop();
      // Offered again by the next check-in answer: forget it so that one retries.
      if (this.#endpoint === key) this.#endpoint = undefined;
      this.logger?.warn({ url: endpoint.url, error: String(error) }, 'push unavailable; polling');
    }
  }

  async #drop(): Promise<void> {
    const client = this.#client;
    const stop = this.#stop;
    this.#client = undefined;
    this.#stop = undefined;
    await stop?.().catch(() => undefined);
    await client?.endAsync(true).catch(() => undefined);
  }
}
