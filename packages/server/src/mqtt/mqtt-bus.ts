/**
 * The service's side of MQTT (docs/mqtt.md), whichever broker carries it: the embedded aedes
 * broker (publishing in-process) or an external broker such as Mosquitto (through an MQTT 5
 * client with the service's own certificate). Push notices and the device API over MQTT are
 * written against this port only.
 */
export interface MqttBus {
  /** Publishes one message; resolves when the broker took it (QoS 1) or it was sent (QoS 0). */
  publish(topic: string, payload: Buffer | string, options?: MqttPublishOptions): Promise<void>;
  /**
   * Delivers every message matching `filter` (MQTT wildcards allowed) to `handler`; on an
   * external broker several replicas share one subscription (`$share/updraft/<filter>`), so each
   * request is answered once. Resolves with a function that ends the subscription.
   */
  subscribe(filter: string, handler: (message: MqttMessage) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface MqttPublishOptions {
  readonly qos?: 0 | 1;
  /** MQTT 5 correlation data: pairs an answer with its request. */
  readonly correlationData?: Buffer;
  readonly contentType?: string;
  readonly userProperties?: Readonly<Record<string, string>>;
  /** Seconds after which the broker drops an undelivered message. */
  readonly messageExpirySeconds?: number;
}

export interface MqttMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly correlationData?: Buffer;
  readonly responseTopic?: string;
  readonly contentType?: string;
  readonly userProperties?: Readonly<Record<string, string>>;
}
