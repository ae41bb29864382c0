// Uplink events from LoRaWAN network servers' MQTT integrations → hatake readings: ChirpStack v4
// (`application/{app}/device/{devEui}/event/up`) and The Things Stack v3
// (`v3/{app}@{tenant}/devices/{id}/up`). The raw frame (base64 `data` / `frm_payload`) goes
// through the kit's own codec when it has one; otherwise the server's decoded object (`object` /
// `decoded_payload`) is mapped. Uplinks are deduplicated by DevEUI + frame counter, and the radio
// metadata (RSSI, SNR, which gateways heard it) is kept — as readings when the kit has `rssi` /
// `snr` metrics, and always in the result.
import { HatakeError, isHatakeError } from '../protocol/errors.ts';
import { ChirpStackUplink, TtsUplink, type RadioMetadata } from '../protocol/lorawan.ts';
import type { Kit } from '../protocol/kit.ts';
import type { Reading } from '../protocol/telemetry.ts';
import { validator } from '../protocol/validate.ts';
import type { Catalogue } from './catalogue.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './codecs/context.ts';
import type { CodecSandbox } from './codecs/sandbox.ts';
import { decodePayload, decodeToObject } from './decode.ts';
import type { QualityTracker } from './quality-tracker.ts';
import { buildReadings } from './readings.ts';
import { mapUplinkFields } from './uplink-fields.ts';
import { uplinkKey, type UplinkDedup } from './uplink-dedup.ts';

export type NetworkServer = 'chirpstack' | 'tts';

const CHIRPSTACK_TOPIC = /^application\/([^/]{1,64})\/device\/([0-9a-fA-F]{16})\/event\/up$/;
const TTS_TOPIC = /^v3\/([^/]{1,129})\/devices\/([^/]{1,64})\/up$/;
const MAX_EVENT_BYTES = 64 * 1024;
const chirpstackValidator = validator(ChirpStackUplink);
const ttsValidator = validator(TtsUplink);

/** An uplink event, read but not yet decoded. */
export interface ParsedUplink {
  server: NetworkServer;
  application: string;
  /** Lower-case hex; absent only for a TTS device whose event names no dev_eui. */
  devEui: string | undefined;
  /** The network server's own device id (TTS device_id, ChirpStack device name). */
  deviceId: string | undefined;
  fCnt: number;
  fPort: number;
  bytes: Uint8Array | undefined;
  object: Record<string, unknown> | undefined;
  /** When the network server received it (epoch ms), if it said. */
  time: number | undefined;
  radio: RadioMetadata;
}

/** True for a topic a network server's uplink events use. */
export function isNetworkUplinkTopic(topic: string): boolean {
  return CHIRPSTACK_TOPIC.test(topic) || TTS_TOPIC.test(topic);
}

function base64Bytes(b64: string | undefined): Uint8Array | undefined {
  if (!b64) return undefined;
  const buf = Buffer.from(b64, 'base64');
  return buf.length ? new Uint8Array(buf) : undefined;
}

function radioOf(
  list: Array<{ id: string | undefined; rssi: number | undefined; snr: number | undefined }>,
): RadioMetadata {
  const gateways = list.map((g) => ({
    id: g.id ?? 'unknown',
    ...(typeof g.rssi === 'number' && Number.isFinite(g.rssi) ? { rssi: g.rssi } : {}),
    ...(typeof g.snr === 'number' && Number.isFinite(g.snr) ? { snr: g.snr } : {}),
  }));
  // The best gateway is the one that heard the device loudest.
  const best = gateways.reduce<(typeof gateways)[number] | undefined>(
    (b, g) => (g.rssi !== undefined && (b?.rssi === undefined || g.rssi > b.rssi) ? g : b),
    undefined,
  );
  return {
    ...(best?.rssi !== undefined ? { rssi: best.rssi } : {}),
    ...(best?.snr !== undefined ? { snr: best.snr } : {}),
    gateways,
  };
}

const timeOf = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso));

/** Reads a network server's uplink event (topic + JSON payload); throws a coded error. */
export function parseNetworkUplink(topic: string, payload: Uint8Array): ParsedUplink {
  const cs = CHIRPSTACK_TOPIC.exec(topic);
  const tts = cs ? null : TTS_TOPIC.exec(topic);
  if (!cs && !tts) {
    throw new HatakeError(
      'HATAKE_E_TOPIC',
      `topic "${topic.slice(0, 200)}" is not a network-server uplink topic`,
      {
        place: { topic: topic.slice(0, 200) },
        expected: 'application/{app}/device/{devEui}/event/up or v3/{app}@{tenant}/devices/{id}/up',
      },
    );
  }
  if (payload.byteLength > MAX_EVENT_BYTES) {
    throw new HatakeError('HATAKE_E_PAYLOAD_SIZE', `uplink event of ${payload.byteLength} bytes`, {
      expected: `at most ${MAX_EVENT_BYTES} bytes`,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch (e) {
    throw new HatakeError('HATAKE_E_PAYLOAD_JSON', `uplink event is not JSON: ${(e as Error).message}`, {
      expected: cs ? 'a ChirpStack v4 uplink event (JSON)' : 'a The Things Stack v3 uplink message (JSON)',
    });
  }
  if (cs) {
    const ev = chirpstackValidator.parse(json, 'ChirpStack uplink event');
    if (ev.deviceInfo.devEui.toLowerCase() !== cs[2]!.toLowerCase()) {
      throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', 'deviceInfo.devEui does not match the topic', {
        place: { pointer: '/deviceInfo/devEui', topic },
        expected: cs[2]!.toLowerCase(),
      });
    }
    return {
      server: 'chirpstack',
      application: cs[1]!,
      devEui: ev.deviceInfo.devEui.toLowerCase(),
      deviceId: ev.deviceInfo.deviceName,
      fCnt: ev.fCnt ?? 0,
      fPort: ev.fPort ?? 0,
      bytes: base64Bytes(ev.data),
      object: ev.object,
      time: timeOf(ev.time),
      radio: radioOf((ev.rxInfo ?? []).map((r) => ({ id: r.gatewayId, rssi: r.rssi, snr: r.snr }))),
    };
  }
  const ev = ttsValidator.parse(json, 'The Things Stack uplink message');
  if (ev.end_device_ids.device_id !== tts![2]) {
    throw new HatakeError('HATAKE_E_PAYLOAD_SCHEMA', 'end_device_ids.device_id does not match the topic', {
      place: { pointer: '/end_device_ids/device_id', topic },
      expected: tts![2],
    });
  }
  const up = ev.uplink_message;
  return {
    server: 'tts',
    application: tts![1]!,
    devEui: ev.end_device_ids.dev_eui?.toLowerCase(),
    deviceId: ev.end_device_ids.device_id,
    fCnt: up.f_cnt ?? 0,
    fPort: up.f_port ?? 0,
    bytes: base64Bytes(up.frm_payload),
    object: up.decoded_payload,
    time: timeOf(up.received_at ?? ev.received_at),
    radio: radioOf(
      (up.rx_metadata ?? []).map((r) => ({
        id: r.gateway_ids?.gateway_id,
        rssi: r.rssi ?? r.channel_rssi,
        snr: r.snr,
      })),
    ),
  };
}

/** A LoRaWAN device as the gateway knows it. */
export interface LoRaWanDevice {
  device: string;
  kit: string;
  calibration?: Readonly<Record<string, readonly number[]>>;
}

export interface NetworkUplinkContext {
  catalogue: Catalogue;
  /** Finds the hatake device of an uplink, by DevEUI (or the network server's device id). */
  lookup(ids: { devEui: string | undefined; deviceId: string | undefined }): LoRaWanDevice | undefined;
  /** Gateway receive time, epoch ms. */
  receivedAt: number;
  /** When given, a repeated DevEUI + fCnt is reported as a duplicate. */
  dedup?: UplinkDedup;
  /** When given, readings also get spike / stuck / clock_skew / duplicate flags. */
  tracker?: QualityTracker;
  sandbox?: CodecSandbox;
  /** Most bytes of the LoRaWAN frame payload (after base64). */
  maxBytes?: number;
}

export interface NetworkUplink {
  server: NetworkServer;
  device: string;
  kit: string;
  devEui: string | undefined;
  fCnt: number;
  fPort: number;
  /** Measurement time used for the readings (the network server's receive time, else ours). */
  time: number;
  /** devEui:fCnt — what the dedup remembers; the gateway may store it instead. */
  dedupKey: string;
  /** Already seen: every reading carries the `duplicate` flag and should not be stored again. */
  duplicate: boolean;
  readings: Reading[];
  radio: RadioMetadata;
}

function radioValues(kit: Kit, radio: RadioMetadata): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  if (kit.metrics.rssi && radio.rssi !== undefined) out.push(['rssi', radio.rssi]);
  if (kit.metrics.snr && radio.snr !== undefined) out.push(['snr', radio.snr]);
  return out;
}

/**
 * Decodes one uplink event from a network server's MQTT integration into readings, or throws a
 * coded HatakeError (unknown device, bad event, codec failure, impossible value).
 */
export function decodeNetworkUplink(
  topic: string,
  payload: Uint8Array,
  ctx: NetworkUplinkContext,
): NetworkUplink {
  try {
    const up = parseNetworkUplink(topic, payload);
    const known = ctx.lookup({ devEui: up.devEui, deviceId: up.deviceId });
    if (!known) {
      throw new HatakeError(
        'HATAKE_E_UNKNOWN_DEVICE',
        `LoRaWAN device ${up.devEui ?? up.deviceId} is not in the manifest`,
        {
          place: { topic: topic.slice(0, 200) },
          expected: 'a device entry with this devEui',
        },
      );
    }
    const kit = ctx.catalogue.require(known.kit);
    const time =
      up.time !== undefined && Number.isSafeInteger(up.time) && up.time >= 0 ? up.time : ctx.receivedAt;
    const dedupKey = uplinkKey(up.devEui ?? up.deviceId ?? known.device, up.fCnt);
    const duplicate = ctx.dedup?.seen(dedupKey, ctx.receivedAt) ?? false;
    const dctx = {
      device: known.device,
      kit,
      receivedAt: ctx.receivedAt,
      maxBytes: ctx.maxBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      fPort: up.fPort,
      calibration: known.calibration,
      sandbox: ctx.sandbox,
    };
    let values: Array<[string, number]>;
    if (kit.codec === 'json' && up.bytes) {
      values = decodePayload(up.bytes, dctx).map((r) => [r.metric, r.value]);
      // hatake JSON carries its own calibration already applied; keep its values as they are.
      dctx.calibration = undefined;
    } else if (up.bytes && kit.codec !== 'network-server') {
      values = mapUplinkFields(kit, decodeToObject(up.bytes, dctx));
    } else if (up.object) {
      values = mapUplinkFields(kit, up.object);
    } else {
      throw new HatakeError(
        'HATAKE_E_PAYLOAD_SCHEMA',
        'uplink carries neither a frame payload hatake can decode nor a decoded object',
        {
          place: { topic: topic.slice(0, 200) },
          expected: kit.codec === 'network-server' ? 'object / decoded_payload' : 'data / frm_payload',
        },
      );
    }
    let readings = buildReadings(
      known.device,
      kit,
      time,
      [...values, ...radioValues(kit, up.radio)],
      dctx.calibration,
    );
    if (duplicate)
      readings = readings.map((r) => ({ ...r, flags: [...new Set([...r.flags, 'duplicate' as const])] }));
    else if (ctx.tracker) readings = ctx.tracker.assess(readings, kit, ctx.receivedAt);
    return {
      server: up.server,
      device: known.device,
      kit: kit.id,
      devEui: up.devEui,
      fCnt: up.fCnt,
      fPort: up.fPort,
      time,
      dedupKey,
      duplicate,
      readings,
      radio: up.radio,
    };
  } catch (e) {
    if (isHatakeError(e)) throw e;
    throw new HatakeError(
      'HATAKE_E_INTERNAL',
      `uplink decoder failed: ${String((e as Error)?.message ?? e).slice(0, 200)}`,
      { cause: e },
    );
  }
}

/** A lookup over manifest device entries with a devEui (for `NetworkUplinkContext.lookup`). */
export function lorawanLookup(
  devices: ReadonlyArray<{
    id: string;
    kit: string;
    devEui?: string;
    calibration?: Record<string, number[]>;
  }>,
): NetworkUplinkContext['lookup'] {
  const byEui = new Map<string, LoRaWanDevice>();
  const byId = new Map<string, LoRaWanDevice>();
  for (const d of devices) {
    const entry = { device: d.id, kit: d.kit, calibration: d.calibration };
    if (d.devEui) byEui.set(d.devEui.toLowerCase(), entry);
    byId.set(d.id, entry);
  }
  return ({ devEui, deviceId }) =>
    (devEui !== undefined ? byEui.get(devEui) : undefined) ??
    (deviceId !== undefined && devEui === undefined ? byId.get(deviceId) : undefined);
}
