// LoRaWAN network servers' MQTT integrations, as far as hatake reads them: the uplink events of
// ChirpStack v4 (`application/{app}/device/{devEui}/event/up`, protobuf JSON in camelCase) and The
// Things Stack v3 (`v3/{app}@{tenant}/devices/{id}/up`, snake_case). Only the fields hatake uses
// are declared; everything else the servers send is allowed and ignored. Protobuf JSON leaves out
// zero values, so counters and ports may be absent.
import { Type, type Static } from '@sinclair/typebox';

export const CHIRPSTACK_UPLINK_TOPIC = 'application/+/device/+/event/up';
export const TTS_UPLINK_TOPIC = 'v3/+/devices/+/up';

const DevEui = Type.String({ pattern: '^[0-9A-Fa-f]{16}$' });
const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', maxLength: 1024 });
const Counter = Type.Integer({ minimum: 0, maximum: 0xffffffff });
const Port = Type.Integer({ minimum: 0, maximum: 255 });

export const ChirpStackUplink = Type.Object(
  {
    deduplicationId: Type.Optional(Type.String({ maxLength: 64 })),
    time: Type.Optional(Type.String({ format: 'date-time' })),
    deviceInfo: Type.Object(
      {
        devEui: DevEui,
        deviceName: Type.Optional(Type.String({ maxLength: 200 })),
        applicationId: Type.Optional(Type.String({ maxLength: 64 })),
      },
      { additionalProperties: true },
    ),
    fCnt: Type.Optional(Counter),
    fPort: Type.Optional(Port),
    data: Type.Optional(Base64),
    object: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    rxInfo: Type.Optional(
      Type.Array(
        Type.Object(
          {
            gatewayId: Type.Optional(Type.String({ maxLength: 64 })),
            rssi: Type.Optional(Type.Number()),
            snr: Type.Optional(Type.Number()),
          },
          { additionalProperties: true },
        ),
        { maxItems: 64 },
      ),
    ),
  },
  { additionalProperties: true },
);
export type ChirpStackUplink = Static<typeof ChirpStackUplink>;

export const TtsUplink = Type.Object(
  {
    end_device_ids: Type.Object(
      {
        device_id: Type.String({ minLength: 1, maxLength: 64 }),
        dev_eui: Type.Optional(DevEui),
      },
      { additionalProperties: true },
    ),
    received_at: Type.Optional(Type.String({ format: 'date-time' })),
    uplink_message: Type.Object(
      {
        f_port: Type.Optional(Port),
        f_cnt: Type.Optional(Counter),
        frm_payload: Type.Optional(Base64),
        decoded_payload: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
        received_at: Type.Optional(Type.String({ format: 'date-time' })),
        rx_metadata: Type.Optional(
          Type.Array(
            Type.Object(
              {
                gateway_ids: Type.Optional(
                  Type.Object(
                    { gateway_id: Type.Optional(Type.String({ maxLength: 64 })) },
                    { additionalProperties: true },
                  ),
                ),
                rssi: Type.Optional(Type.Number()),
                channel_rssi: Type.Optional(Type.Number()),
                snr: Type.Optional(Type.Number()),
              },
              { additionalProperties: true },
            ),
            { maxItems: 64 },
          ),
        ),
      },
      { additionalProperties: true },
    ),
  },
  { additionalProperties: true },
);
export type TtsUplink = Static<typeof TtsUplink>;

/** Radio metadata of one uplink: the best gateway's RSSI and SNR, and every gateway that heard it. */
export const RadioMetadata = Type.Object(
  {
    rssi: Type.Optional(Type.Number({ description: 'dBm, best gateway' })),
    snr: Type.Optional(Type.Number({ description: 'dB, best gateway' })),
    gateways: Type.Array(
      Type.Object({
        id: Type.String(),
        rssi: Type.Optional(Type.Number()),
        snr: Type.Optional(Type.Number()),
      }),
    ),
  },
  { additionalProperties: false },
);
export type RadioMetadata = Static<typeof RadioMetadata>;
