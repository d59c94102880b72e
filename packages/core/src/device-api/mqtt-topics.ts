/*
 * The MQTT topics of a device (docs/mqtt.md). A device's identity on a broker is the RFC 2253
 * string of its certificate subject, `CN=<device name>,O=<tenant id>`, which is what Mosquitto
 * makes of a client certificate with `use_subject_as_username true`; the embedded broker derives
 * the same string. Every topic of a device sits under `updraft/v1/<identity>/`, so one ACL
 * pattern (`pattern read updraft/v1/%u/notify`, …) confines each device to its own topics, and
 * devices of two tenants with the same name never share a topic.
 */

/** Device names are `[A-Za-z0-9._:@-]+` and tenant ids `[a-z0-9_]+`: nothing RFC 2253 escapes. */
const IDENTITY_PART = /^[A-Za-z0-9._:@-]{1,128}$/;

/** `CN=<deviceName>,O=<tenantId>`; throws on a part that would need escaping (never valid). */
export function deviceMqttIdentity(tenantId: string, deviceName: string): string {
  if (!IDENTITY_PART.test(tenantId) || !IDENTITY_PART.test(deviceName)) {
    throw new RangeError('tenant id or device name not usable in an MQTT identity');
  }
  return `CN=${deviceName},O=${tenantId}`;
}

/** `updraft/v1/<identity>`: the root of every topic of the device. */
export function deviceTopicRoot(tenantId: string, deviceName: string): string {
  return `updraft/v1/${deviceMqttIdentity(tenantId, deviceName)}`;
}

const DEVICE_TOPIC =
  /^updraft\/v1\/CN=([A-Za-z0-9._:@-]{1,128}),O=([A-Za-z0-9._:@-]{1,128})\/([a-z]+)$/;

/**
 * The device a topic of `deviceTopicRoot` names and the suffix under it, or `undefined` for any
 * other topic (the inverse of `deviceTopicRoot` + `/<suffix>`).
 */
export function parseDeviceTopic(
  topic: string,
): { tenantId: string; deviceName: string; suffix: string } | undefined {
  const m = DEVICE_TOPIC.exec(topic);
  return m === null ? undefined : { deviceName: m[1]!, tenantId: m[2]!, suffix: m[3]! };
}

/** Topic suffixes under a device's root. */
export const DEVICE_TOPICS = {
  /** Service → device: push notices (`PushNotice` JSON, QoS 1). */
  notify: 'notify',
  /** Device → service: device API requests over MQTT (firmware over MQTT). */
  request: 'req',
  /** Service → device: answers to `req`, matched by MQTT 5 correlation data. */
  response: 'res',
} as const;

/** The kinds of push notice (closed set). */
export const PUSH_NOTICE_TYPES = [
  'action-available',
  'action-cancelled',
  'campaign-paused',
] as const;
export type PushNoticeType = (typeof PUSH_NOTICE_TYPES)[number];

/**
 * A push notice on `<topicRoot>/notify` (JSON, QoS 1). Only a hint to check in now: a device
 * never changes state because of one (the check-in answer is the source of truth).
 */
export interface PushNotice {
  readonly type: PushNoticeType;
  readonly actionId?: string;
  readonly campaignId?: string;
  /** When the service published it (ISO 8601). */
  readonly at: string;
}

/** Reads a notice; `undefined` for anything that is not one (bounded: notices are small). */
export function parsePushNotice(payload: Uint8Array | string): PushNotice | undefined {
  if (payload.length > 4096) return undefined;
  try {
    const value = JSON.parse(
      typeof payload === 'string' ? payload : new TextDecoder().decode(payload),
    ) as unknown;
    if (typeof value !== 'object' || value === null) return undefined;
    const { type, at } = value as Record<string, unknown>;
    if (typeof type !== 'string' || !(PUSH_NOTICE_TYPES as readonly string[]).includes(type))
      return undefined;
    if (typeof at !== 'string') return undefined;
    return value as PushNotice;
  } catch {
    return undefined;
  }
}
