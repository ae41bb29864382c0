// Shapes of the dashboard's view API (issue 9): fields on a map with their imagery, chart series,
// the officer's region overview, and the IT partner's health, gateway and provisioning views.
// The browser app (dashboard/ui) imports these as types; the server validates and documents with
// them (OpenAPI at /docs).
import { Type, type Static } from '@sinclair/typebox';
import { Id, SceneId as SceneIdOf } from './ids.ts';
import { PolygonGeometry } from './manifest.ts';
import { IndexStats } from './imagery.ts';
import { Dict } from './dict.ts';
import type { Kit } from './kit.ts';

const Iso = Type.String({ format: 'date-time' });
const IsoOrNull = Type.Union([Iso, Type.Null()]);
const NumOrNull = Type.Union([Type.Number(), Type.Null()]);

/** Path parameters of the per-farm routes. */
export const FarmParams = Type.Object({ farm: Id('Farm id') }, { additionalProperties: false });
export const FieldParams = Type.Object(
  { farm: Id('Farm id'), field: Id('Field id') },
  { additionalProperties: false },
);
export const SceneId = SceneIdOf();
export const FieldSceneParams = Type.Object(
  { farm: Id('Farm id'), field: Id('Field id'), scene: SceneId },
  { additionalProperties: false },
);

/** The latest processed scene of a field, in one line. */
export const FieldImagerySummary = Type.Object({
  sceneId: Type.String(),
  acquired: IsoOrNull,
  ndvi: NumOrNull,
  validFraction: Type.Number({ minimum: 0, maximum: 1 }),
});
export type FieldImagerySummary = Static<typeof FieldImagerySummary>;

export const FieldSummary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  crop: Type.Union([Type.String(), Type.Null()]),
  variety: Type.Union([Type.String(), Type.Null()]),
  plantingDate: Type.Union([Type.String(), Type.Null()]),
  soilTexture: Type.Union([Type.String(), Type.Null()]),
  boundary: Type.Union([PolygonGeometry, Type.Null()]),
  latest: Type.Union([FieldImagerySummary, Type.Null()]),
});
export type FieldSummary = Static<typeof FieldSummary>;

export const FarmFields = Type.Object({
  farm: Type.String(),
  name: Type.String(),
  timezone: Type.String(),
  fields: Type.Array(FieldSummary),
  devices: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.Union([Type.String(), Type.Null()]),
      field: Type.Union([Type.String(), Type.Null()]),
      kit: Type.Union([Type.String(), Type.Null()]),
      position: Type.Union([Type.Tuple([Type.Number(), Type.Number()]), Type.Null()]),
    }),
  ),
});
export type FarmFields = Static<typeof FarmFields>;

/** A heatmap of one index over the field, ready for Leaflet's imageOverlay. */
export const MapLayer = Type.Object({
  index: Type.String(),
  url: Type.String({ description: 'PNG, same origin; absent file → 404' }),
  legendUrl: Type.String(),
  /** [west, south, east, north] in WGS84. */
  bounds: Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()]),
  range: Type.Tuple([Type.Number(), Type.Number()]),
  available: Type.Boolean({ description: 'Whether the gateway has uploaded the PNG yet' }),
});
export type MapLayer = Static<typeof MapLayer>;

export const FieldScene = Type.Object({
  sceneId: Type.String(),
  acquired: IsoOrNull,
  received: Iso,
  areaHa: Type.Number(),
  validFraction: Type.Number(),
  zoneCount: Type.Integer({ minimum: 0 }),
  indices: Type.Record(Type.String(), IndexStats),
  maps: Type.Array(MapLayer),
});
export type FieldScene = Static<typeof FieldScene>;

export const FieldDetail = Type.Object({
  farm: Type.String(),
  timezone: Type.String(),
  field: FieldSummary,
  /** Newest first, at most 50. */
  scenes: Type.Array(FieldScene),
});
export type FieldDetail = Static<typeof FieldDetail>;

/** A field's management zones of one scene (WGS84 GeoJSON, properties as zones.geojson has them). */
export const ZoneFeatureCollection = Type.Object({
  type: Type.Literal('FeatureCollection'),
  features: Type.Array(
    Type.Object({
      type: Type.Literal('Feature'),
      id: Type.String(),
      geometry: Type.Unknown(),
      properties: Type.Record(Type.String(), Type.Unknown()),
    }),
  ),
});

export const SERIES_RANGES = ['24h', '7d', 'season'] as const;
export type SeriesRange = (typeof SERIES_RANGES)[number];

export const SeriesQuery = Type.Object(
  {
    device: Id('Device id'),
    metric: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }),
    range: Type.Union(
      SERIES_RANGES.map((r) => Type.Literal(r)),
      { description: '24h: raw readings; 7d: hourly; season: daily since planting (or 180 days)' },
    ),
  },
  { additionalProperties: false },
);
export type SeriesQuery = Static<typeof SeriesQuery>;

/** Columns for uPlot: times (epoch seconds) and the values; min/max only for rolled-up ranges. */
export const Series = Type.Object({
  device: Type.String(),
  metric: Type.String(),
  unit: Type.String(),
  range: Type.String(),
  resolution: Type.Union([Type.Literal('raw'), Type.Literal('hour'), Type.Literal('day')]),
  from: Type.Integer(),
  to: Type.Integer(),
  t: Type.Array(Type.Number()),
  v: Type.Array(NumOrNull),
  min: Type.Optional(Type.Array(NumOrNull)),
  max: Type.Optional(Type.Array(NumOrNull)),
});
export type Series = Static<typeof Series>;

/** The officer's (and admin's) overview of the farms they can see. */
export const RegionOverview = Type.Object({
  /** Fields by latest NDVI, lowest first (fields without a scene last). */
  fields: Type.Array(
    Type.Object({
      farm: Type.String(),
      farmName: Type.String(),
      field: Type.String(),
      name: Type.String(),
      crop: Type.Union([Type.String(), Type.Null()]),
      ndvi: NumOrNull,
      acquired: IsoOrNull,
      sceneId: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
  farms: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      region: Type.Union([Type.String(), Type.Null()]),
      lastData: IsoOrNull,
      lastSync: IsoOrNull,
      devices: Type.Integer(),
      silentDevices: Type.Integer({ description: 'Devices not heard from for 3 reporting intervals' }),
      stale: Type.Boolean({ description: 'No data for an hour, or a silent device' }),
      pendingReviews: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
        description:
          'Recommendations waiting for review (pending or edited): every one, however long the queue; null for users who do not review (farmers, IT partners)',
      }),
    }),
  ),
});
export type RegionOverview = Static<typeof RegionOverview>;

// ---------------------------------------------------------------------------------------------
// IT partner
// ---------------------------------------------------------------------------------------------

/** A metric a kit reports: its storage unit and the range it can read (triggers outside are refused). */
export const KitMetricSummary = Type.Object({
  id: Type.String(),
  unit: Type.String(),
  min: Type.Number(),
  max: Type.Number(),
  /** The kit file's name for a metric of its own (e.g. open_minutes_left); null when it gives none. */
  name: Type.Union([Type.Object({ ja: Type.String(), en: Type.String() }), Type.Null()]),
});
export type KitMetricSummary = Static<typeof KitMetricSummary>;

/** A parameter of a kit command: every one is required, within min…max (an integer when `type` says). */
export const KitCommandParamSummary = Type.Object({
  name: Type.String(),
  type: Type.Union([Type.Literal('integer'), Type.Literal('number')]),
  min: Type.Number(),
  max: Type.Number(),
  unit: Type.Union([Type.String(), Type.Null()]),
});
export type KitCommandParamSummary = Static<typeof KitCommandParamSummary>;

export const KitCommandSummary = Type.Object({
  id: Type.String(),
  params: Type.Array(KitCommandParamSummary),
});
export type KitCommandSummary = Static<typeof KitCommandSummary>;

export const KitSummary = Type.Object({
  id: Type.String(),
  name: Type.Object({ ja: Type.String(), en: Type.String() }),
  vendor: Type.Union([Type.String(), Type.Null()]),
  transport: Type.String(),
  codec: Type.String(),
  interval: Type.Number(),
  /** The metric ids (as in `metricDetails`). */
  metrics: Type.Array(Type.String()),
  /** The command ids (as in `commandDetails`). */
  commands: Type.Array(Type.String()),
  /** Each metric with its unit and readable range, in the order of `metrics`. */
  metricDetails: Type.Array(KitMetricSummary),
  /** Each command with its parameters, in the order of `commands`. */
  commandDetails: Type.Array(KitCommandSummary),
});
export type KitSummary = Static<typeof KitSummary>;

/** What GET /api/v1/kits says of a kit: enough for the partner's catalogue and the automation form. */
export function kitSummary(k: Kit): KitSummary {
  return {
    id: k.id,
    name: { ja: k.name.ja, en: k.name.en },
    vendor: k.vendor ?? null,
    transport: k.transport ?? 'mqtt',
    codec: k.codec,
    interval: k.interval,
    metrics: Object.keys(k.metrics),
    commands: Object.keys(k.commands ?? {}),
    metricDetails: Object.entries(k.metrics).map(([id, m]) => ({
      id,
      unit: m.unit,
      min: m.min,
      max: m.max,
      name: m.name ? { ja: m.name.ja, en: m.name.en } : null,
    })),
    commandDetails: Object.entries(k.commands ?? {}).map(([id, c]) => ({
      id,
      params: Object.entries(c.params ?? {}).map(([name, p]) => ({
        name,
        type: p.type,
        min: p.min,
        max: p.max,
        unit: p.unit ?? null,
      })),
    })),
  };
}

const Latest = Type.Union([
  Type.Object({ value: Type.Number(), unit: Type.String(), time: Iso }),
  Type.Null(),
]);

export const DEVICE_STATES = ['ok', 'late', 'silent', 'never', 'unknown'] as const;

export const DeviceHealth = Type.Object({
  id: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  kit: Type.Union([Type.String(), Type.Null()]),
  kitName: Type.Union([Type.Object({ ja: Type.String(), en: Type.String() }), Type.Null()]),
  field: Type.Union([Type.String(), Type.Null()]),
  transport: Type.Union([Type.String(), Type.Null()]),
  lastSeen: IsoOrNull,
  online: Type.Union([Type.Boolean(), Type.Null()]),
  /**
   * ok: heard within 3 intervals; late: within 12; silent: longer; never: provisioned, never heard;
   * unknown: late or silent by the server's clock, but none of the farm's gateways has synced since
   * the device's next reading was due — whether it still reports cannot be known (see
   * gatewayNotSyncing).
   */
  state: Type.Union(DEVICE_STATES.map((s) => Type.Literal(s))),
  /**
   * Why the state is unknown (null for any other state): the farm's gateways (not revoked), none of
   * which has synced since the device was due, and the newest of their last syncs (null: never).
   */
  gatewayNotSyncing: Type.Union([
    Type.Object({ gateways: Type.Array(Type.String()), since: IsoOrNull }),
    Type.Null(),
  ]),
  intervalS: Type.Union([Type.Number(), Type.Null()]),
  battery: Latest,
  batteryLevel: Latest,
  /**
   * The battery as the battery-low rule (edge/rules/battery-low.ts) judges it: the median of its
   * latest voltage readings of the last day against its kit's marks — low is the farmer's warning
   * tip, critical the severe one. Null when the kit has no marks or no voltage came in a day.
   */
  batteryState: Type.Union([
    Type.Object({
      state: Type.Union([Type.Literal('ok'), Type.Literal('low'), Type.Literal('critical')]),
      volts: Type.Number(),
      samples: Type.Integer({ minimum: 1 }),
      lowV: Type.Number(),
      criticalV: Type.Number(),
    }),
    Type.Null(),
  ]),
  rssi: Latest,
  snr: Latest,
  /** Readings of the last 24 h and how many carried a quality flag. */
  quality: Type.Object({
    readings: Type.Integer({ minimum: 0 }),
    flagged: Type.Integer({ minimum: 0 }),
    flags: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
  }),
  provisioned: Type.Boolean({ description: 'In the registry the server last provisioned' }),
});
export type DeviceHealth = Static<typeof DeviceHealth>;

export const GatewayAlert = Type.Object({
  id: Type.String(),
  type: Type.String(),
  severity: Type.String(),
  time: Iso,
  device: Type.Union([Type.String(), Type.Null()]),
  /** The gateway's own words, in English (a page says the event in its language from type and detail). */
  message: Type.String(),
  /** What the gateway sent with the event (protocol/sync.ts GatewayEvent detail), when anything. */
  detail: Type.Optional(
    Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
  ),
  /** For downlink_applied / downlink_refused: the document the event is about. */
  downlink: Type.Optional(
    Type.Object({ kind: Type.String(), id: Type.String(), version: Type.Integer({ minimum: 0 }) }),
  ),
});
export type GatewayAlert = Static<typeof GatewayAlert>;

/**
 * A gateway's newest report about the configuration sent down to it (the `config` document, id
 * `gateway`): its downlink_applied or downlink_refused event, however many events came after it.
 */
export const GatewayConfigReport = Type.Object({
  outcome: Type.Union([Type.Literal('applied'), Type.Literal('refused')]),
  /** The version of the document the report is about (a withdrawal is a version too). */
  version: Type.Integer({ minimum: 0 }),
  time: Iso,
  /** The gateway's own words, in English. */
  message: Type.String(),
  /** The event itself, as `alerts` lists events (a page says it in its language from type and detail). */
  event: GatewayAlert,
});
export type GatewayConfigReport = Static<typeof GatewayConfigReport>;

export const GatewayHealth = Type.Object({
  id: Type.String(),
  farm: Type.String(),
  created: Iso,
  revoked: IsoOrNull,
  lastSync: IsoOrNull,
  ackedSeq: Type.Integer({ minimum: 0 }),
  /** From the gateway's latest backlog_report event: outbox rows waiting, the oldest one's age, its version. */
  backlog: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  oldestAgeMs: NumOrNull,
  version: Type.Union([Type.String(), Type.Null()]),
  reportedAt: IsoOrNull,
  /** Its events of the last 7 days other than backlog reports, newest first, at most 20. */
  alerts: Type.Array(GatewayAlert),
  /** Its newest report about the configuration sent down, of any age (null: none yet). */
  configReport: Type.Union([GatewayConfigReport, Type.Null()]),
  /**
   * The settings it runs on, as it last told them (its config_effective event, of any age): the
   * keys a configuration sent down may set, dotted, in the file's units (null: not told yet).
   */
  settings: Type.Union([
    Type.Object({ time: Iso, values: Type.Record(Type.String(), Type.Number()) }),
    Type.Null(),
  ]),
});
export type GatewayHealth = Static<typeof GatewayHealth>;

export const FarmHealth = Type.Object({
  farm: Type.String(),
  devices: Type.Array(DeviceHealth),
  gateways: Type.Array(GatewayHealth),
});
export type FarmHealth = Static<typeof FarmHealth>;

/** A manifest as text, with boundary files uploaded beside it (name → GeoJSON text). */
export const ManifestUpload = Type.Object(
  {
    text: Type.String({ maxLength: 1024 * 1024 }),
    files: Type.Optional(
      Dict('^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$', Type.String({ maxLength: 4 * 1024 * 1024 }), {
        maxProperties: 200,
      }),
    ),
  },
  { additionalProperties: false },
);
export type ManifestUpload = Static<typeof ManifestUpload>;

export const ManifestProblem = Type.Object({
  code: Type.String(),
  message: Type.String(),
  line: Type.Union([Type.Integer(), Type.Null()]),
  column: Type.Union([Type.Integer(), Type.Null()]),
  pointer: Type.Union([Type.String(), Type.Null()]),
  expected: Type.Union([Type.String(), Type.Null()]),
});
export type ManifestProblem = Static<typeof ManifestProblem>;

/** What provisioning would do with one device's key, said before it is done. */
export const DeviceKeyPlan = Type.Object({
  id: Type.String(),
  kit: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  /**
   * keep: the key the device has stays; new: a new key (the server knows none for it); rotate: a
   * new key asked for; none: a LoRaWAN device (no key of its own).
   */
  key: Type.Union([Type.Literal('keep'), Type.Literal('new'), Type.Literal('rotate'), Type.Literal('none')]),
  /** Where the kept key is known from: a registry provisioned here, or the one a gateway synced. */
  from: Type.Union([Type.Literal('server'), Type.Literal('gateway'), Type.Null()]),
  /** When the server last had a reading of it; null: never. */
  lastSeen: IsoOrNull,
  /** Its MQTT connection as its gateway last synced it; null: never told. */
  online: Type.Union([Type.Boolean(), Type.Null()]),
});
export type DeviceKeyPlan = Static<typeof DeviceKeyPlan>;

/** The keys provisioning the checked manifest would keep and issue, before anything is done. */
export const KeyPreview = Type.Object({
  devices: Type.Array(DeviceKeyPlan),
  /**
   * Devices heard from (a reading, a connection) that would get a new key: after provisioning
   * they cannot connect until they are given it.
   */
  atRisk: Type.Array(Type.String()),
  /** Devices with a key the manifest leaves out: the registry sent down drops them. */
  removed: Type.Array(Type.String()),
  /** When the newest registry a gateway of the farm synced reached the server; null: none has. */
  gatewayRegistry: IsoOrNull,
  /**
   * The manifest's own gateway address (`broker.host`); null when it gives none — then provisioning
   * needs one in the request if any device gets a new key (its config file names the gateway).
   */
  brokerHost: Type.Union([Type.String(), Type.Null()]),
});
export type KeyPreview = Static<typeof KeyPreview>;

export const ManifestCheckResult = Type.Object({
  ok: Type.Boolean(),
  problems: Type.Array(ManifestProblem),
  fields: Type.Integer({ minimum: 0 }),
  devices: Type.Integer({ minimum: 0 }),
  /** For a valid manifest of the farm checked: which keys provisioning keeps and issues. */
  keys: Type.Union([KeyPreview, Type.Null()]),
});
export type ManifestCheckResult = Static<typeof ManifestCheckResult>;

export const StoredManifest = Type.Object({
  text: Type.String(),
  /** provisioned: the text last provisioned here; synced: rebuilt from what the gateway synced; none. */
  source: Type.Union([Type.Literal('provisioned'), Type.Literal('synced'), Type.Literal('none')]),
  updated: IsoOrNull,
});
export type StoredManifest = Static<typeof StoredManifest>;

export const ProvisionRequest = Type.Object(
  {
    text: Type.String({ maxLength: 1024 * 1024 }),
    files: ManifestUpload.properties.files,
    broker: Type.Optional(
      Type.Object(
        {
          host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' }),
          port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
          tls: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    /** Replace this device's secret (others keep theirs). */
    rotate: Type.Optional(Id('Device id')),
  },
  { additionalProperties: false },
);
export type ProvisionRequest = Static<typeof ProvisionRequest>;

export const ProvisionedDevice = Type.Object({
  id: Type.String(),
  kit: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  field: Type.Union([Type.String(), Type.Null()]),
  lorawan: Type.Boolean(),
  /** Present only for devices that got a new secret now: the config JSON, ESPHome YAML and QR PNG (base64). */
  files: Type.Union([
    Type.Object({ config: Type.String(), esphome: Type.String(), qrPng: Type.String() }),
    Type.Null(),
  ]),
});
export type ProvisionedDevice = Static<typeof ProvisionedDevice>;

export const ProvisionResult = Type.Object({
  farm: Type.String(),
  issued: Type.Array(Type.String()),
  kept: Type.Array(Type.String()),
  devices: Type.Array(ProvisionedDevice),
  /** The printable sheet (HTML) with the QR codes of the devices issued now. */
  sheetHtml: Type.String(),
  /** Version of the downlink documents (manifest + registry) the farm's gateways will fetch. */
  downlinkVersion: Type.Integer(),
});
export type ProvisionResult = Static<typeof ProvisionResult>;
