import { DEVICE_TOPICS, type PushNotice, parsePushNotice } from '@updraft/core';
import type { MqttClient } from 'mqtt';

/**
 * Subscribes to the device's notify topic (`<topicRoot>/notify`, QoS 1) on every (re)connect and
 * calls `onNotice` for each well-formed notice; anything else is dropped. A notice only wakes
 * the agent (`Agent.wake`): it never changes state by itself.
 *
 * @example
 * const stop = await subscribePush(client, push.topicRoot, () => agent.wake());
 */
export async function subscribePush(
  client: MqttClient,
  topicRoot: string,
  onNotice: (notice: PushNotice) => void,
): Promise<() => Promise<void>> {
  const topic = `${topicRoot}/${DEVICE_TOPICS.notify}`;
  const onMessage = (received: string, payload: Buffer) => {
    if (received !== topic) return;
    const notice = parsePushNotice(payload);
    if (notice !== undefined) onNotice(notice);
  };
  const resubscribe = () => {
    client.subscribe(topic, { qos: 1 }, () => undefined);
  };
  client.on('message', onMessage);
  client.on('connect', resubscribe);
  const granted = await client.subscribeAsync(topic, { qos: 1 });
  if (granted.some((g) => g.qos === 128))
    throw new Error(`the broker refused the subscription to ${topic}`);
  return async () => {
    client.off('message', onMessage);
    client.off('connect', resubscribe);
    await client.unsubscribeAsync(topic).catch(() => undefined);
  };
}
