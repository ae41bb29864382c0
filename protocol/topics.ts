// The MQTT topic scheme. Devices publish telemetry on `hatake/v1/{farm}/{device}/up`, their
// retained online/offline state on `…/status`, and receive commands on `…/down`.
import { isId } from './ids.ts';
import { HatakeError } from './errors.ts';

export const TOPIC_ROOT = 'hatake/v1';
export const DEVICE_TOPIC_KINDS = ['up', 'status', 'down'] as const;
export type DeviceTopicKind = (typeof DEVICE_TOPIC_KINDS)[number];

export interface DeviceTopic {
  farm: string;
  device: string;
  kind: DeviceTopicKind;
}

/** The topic of one device's channel. */
export function deviceTopic(farm: string, device: string, kind: DeviceTopicKind): string {
  return `${TOPIC_ROOT}/${farm}/${device}/${kind}`;
}

/** Parses a device topic; throws HATAKE_E_TOPIC naming what was wrong. */
export function parseDeviceTopic(topic: string): DeviceTopic {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) {
    throw new HatakeError('HATAKE_E_TOPIC', `topic "${topic.slice(0, 200)}" is not a device topic`, {
      place: { topic: topic.slice(0, 200) },
      expected: `${TOPIC_ROOT}/{farm}/{device}/{up|status|down}`,
    });
  }
  const [, , farm, device, kind] = parts as [string, string, string, string, string];
  if (!isId(farm) || !isId(device)) {
    throw new HatakeError(
      'HATAKE_E_TOPIC',
      `farm or device id in "${topic.slice(0, 200)}" is not a valid id`,
      {
        place: { topic: topic.slice(0, 200) },
        expected: 'ids of lower-case letters, digits, "-" and "_"',
      },
    );
  }
  if (!(DEVICE_TOPIC_KINDS as readonly string[]).includes(kind)) {
    throw new HatakeError('HATAKE_E_TOPIC', `unknown channel "${kind}"`, {
      place: { topic: topic.slice(0, 200) },
      expected: DEVICE_TOPIC_KINDS.join(' | '),
    });
  }
  return { farm, device, kind: kind as DeviceTopicKind };
}
