import { describe, expect, it } from 'vitest';
import { DEVICE_TOPICS, deviceTopicRoot, parseDeviceTopic } from './mqtt-topics.js';

describe('parseDeviceTopic', () => {
  it('reads back the device and suffix of a topic deviceTopicRoot built', () => {
    const topic = `${deviceTopicRoot('acme_1', 'pump-7.a:b@c')}/${DEVICE_TOPICS.request}`;
    expect(parseDeviceTopic(topic)).toEqual({
      tenantId: 'acme_1',
      deviceName: 'pump-7.a:b@c',
      suffix: 'req',
    });
  });

  it('refuses topics outside the pattern', () => {
    for (const topic of [
      'updraft/v1/CN=a,O=t',
      'updraft/v1/CN=a,O=t/req/x',
      'updraft/v2/CN=a,O=t/req',
      'updraft/v1/CN=a b,O=t/req',
      'updraft/v1/O=t,CN=a/req',
      `updraft/v1/CN=${'a'.repeat(129)},O=t/req`,
    ]) {
      expect(parseDeviceTopic(topic)).toBeUndefined();
    }
  });
});
