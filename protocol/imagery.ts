// Satellite imagery contracts: sensor profiles (which band plays which role, radiometry, masks),
// the scene manifest and status of "imagery over MQTT" (chunked transfer), and the outputs of
// processing a scene — stats.json and zones.geojson — that the fertilization models, the
// dashboard and the sync read. Output schemas carry a `schema` tag; change them additively.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from './ids.ts';
import { TOPIC_ROOT } from './topics.ts';
import { Dict } from './dict.ts';

// ---------------------------------------------------------------------------------------------
// Sensor profiles
// ---------------------------------------------------------------------------------------------

/** Roles a band can play. `nir08` is Sentinel-2's narrow NIR (B8A); `scl` its scene classification. */
export const BAND_ROLES = ['blue', 'green', 'red', 'rededge', 'nir', 'nir08', 'scl'] as const;
export type BandRole = (typeof BAND_ROLES)[number];
export const BandRoleSchema = Type.Union(
  BAND_ROLES.map((r) => Type.Literal(r)),
  { description: 'Role a band plays' },
);

export const ProfileBand = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 32, description: 'Band name, e.g. B04' }),
    resolutionM: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10000 })),
    /** Regular expression (case-insensitive) matching the band's file name when bands come one file each. */
    filePattern: Type.Optional(Type.String({ maxLength: 200 })),
    /** 1-based band number inside a multi-band file, when the product fixes it. */
    index: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  { additionalProperties: false },
);

/** How the radiometric offset is decided for a scene. */
export const OffsetRule = Type.Union(
  [
    Type.Literal('fixed'), // the profile's `offset` always applies
    Type.Literal('s2-l2a-baseline'), // −1000 from processing baseline 04.00 on, 0 before; from metadata or the user
  ],
  { description: 'How the offset is decided' },
);

export const SensorProfile = Type.Object(
  {
    id: Id('Profile id, e.g. s2-l2a'),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    bands: Type.Partial(
      Type.Object({
        blue: ProfileBand,
        green: ProfileBand,
        red: ProfileBand,
        rededge: ProfileBand,
        nir: ProfileBand,
        nir08: ProfileBand,
        scl: ProfileBand,
      }),
      { additionalProperties: false },
    ),
    /** reflectance = (DN + offset) · scale */
    scale: Type.Number({ exclusiveMinimum: 0 }),
    offset: Type.Optional(Type.Number({ minimum: -100000, maximum: 100000 })),
    offsetRule: OffsetRule,
    /** DN that means "no data" in the reflectance bands (Sentinel-2: 0). */
    nodata: Type.Union([Type.Number(), Type.Null()]),
    /** Scene-classification classes to keep (the rest is masked), when the profile has an `scl` band. */
    sclKeep: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 255 }), { maxItems: 256 })),
    /**
     * The Sentinel-2 product level the profile reads: a scene whose metadata names the other level
     * is refused (top-of-atmosphere read as surface reflectance, or the reverse, gives wrong indices).
     */
    level: Type.Optional(Type.Union([Type.Literal('L1C'), Type.Literal('L2A')])),
  },
  { additionalProperties: false },
);
export type SensorProfile = Static<typeof SensorProfile>;

// ---------------------------------------------------------------------------------------------
// Imagery over MQTT: hatake/v1/{farm}/imagery/{sceneId}/{manifest | chunk/{n} | end | status}
// ---------------------------------------------------------------------------------------------

/** The topic prefix a gateway subscribes to (`#` appended) for a farm's imagery. */
export function imageryTopicPrefix(farm: string): string {
  return `${TOPIC_ROOT}/${farm}/imagery/`;
}

/** The topic of one imagery message: kind is manifest, chunk/{n}, end or status. */
export function imageryTopic(farm: string, sceneId: string, kind: string): string {
  return `${imageryTopicPrefix(farm)}${sceneId}/${kind}`;
}

export const SHA256_PATTERN = '^[0-9a-f]{64}$';

/**
 * The ids of the vegetation indices hatake knows (edge/imagery/indices.ts defines them; a test
 * keeps the two lists equal): what an already derived index raster may hold.
 */
export const INDEX_IDS = ['ndvi', 'ndre', 'gndvi', 'savi', 'evi', 'cire'] as const;

/**
 * Published (QoS 1) to `…/imagery/{sceneId}/manifest` before the chunks. Chunk n (0-based) is
 * the bytes [n·chunkSize, min(size, (n+1)·chunkSize)) of the file, published raw to
 * `…/imagery/{sceneId}/chunk/{n}`; then an empty message on `…/imagery/{sceneId}/end`.
 * Re-publishing the same manifest resumes: the receiver answers with the chunks it still lacks.
 */
export const SceneManifest = Type.Object(
  {
    v: Type.Literal(1),
    sceneId: Id('Scene id, unique per farm'),
    /** Acquisition time of the scene (UTC). */
    acquired: Type.String({ format: 'date-time', maxLength: 40 }),
    profile: Id('Sensor profile id (s2-l2a, s2-l1c, planetscope-4b, generic, index)'),
    /** Band roles → 1-based band numbers in the file; the profile's defaults when absent. */
    bands: Type.Optional(
      Dict('^[a-z0-9]{1,16}$', Type.Integer({ minimum: 1, maximum: 1000 }), { maxProperties: 16 }),
    ),
    /** Radiometric offset added to DNs (Sentinel-2 L2A baseline ≥ 04.00: −1000). */
    offset: Type.Optional(Type.Number({ minimum: -100000, maximum: 100000 })),
    scale: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1000 })),
    /** For an already derived index raster (profile `index`): which index it holds. */
    index: Type.Optional(Type.String({ pattern: '^[a-z0-9]{1,16}$' })),
    format: Type.Literal('geotiff'),
    size: Type.Integer({ minimum: 1, maximum: 8 * 1024 ** 3 }),
    sha256: Type.String({ pattern: SHA256_PATTERN }),
    chunkSize: Type.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024 }),
    chunkCount: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  },
  { additionalProperties: false },
);
export type SceneManifest = Static<typeof SceneManifest>;

/**
 * A scene sent down from the server: the body of a signed downlink document of kind `scene`
 * (its id is the scene id). The manifest's description of the scene without the chunking; the
 * gateway fetches the file from `GET /api/v1/downlink/scenes/{sha256}` and checks size and sha256.
 */
export const SceneDownlink = Type.Composite(
  [
    Type.Pick(SceneManifest, ['v', 'sceneId', 'acquired', 'profile', 'bands', 'offset', 'scale', 'format']),
    Type.Object({
      /** For an already derived index raster (profile `index`, and only it): the index it holds. */
      index: Type.Optional(Type.Union(INDEX_IDS.map((id) => Type.Literal(id)))),
      size: Type.Integer({ minimum: 1, maximum: 8 * 1024 ** 3 }),
      sha256: Type.String({ pattern: SHA256_PATTERN }),
    }),
  ],
  { additionalProperties: false },
);
export type SceneDownlink = Static<typeof SceneDownlink>;

export const TRANSFER_STATES = [
  'receiving', // manifest accepted; `missing` lists what is still needed
  'incomplete', // `end` arrived but chunks are missing; resend them (kept on disk)
  'refused', // manifest, chunk or file refused (size, sha256, limits); the transfer is dropped
  'processed', // verified and processed; results were emitted
  'failed', // verified, but processing the scene failed (e.g. a corrupt GeoTIFF)
] as const;

/** Published by the gateway to `…/imagery/{sceneId}/status` in answer to a transfer. */
export const TransferStatus = Type.Object(
  {
    sceneId: Type.String({ maxLength: 64 }),
    state: Type.Union(TRANSFER_STATES.map((s) => Type.Literal(s))),
    code: Type.Optional(Type.String({ maxLength: 64 })),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    received: Type.Optional(Type.Integer({ minimum: 0 })),
    chunkCount: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Up to 1,000 missing chunk numbers (0-based). */
    missing: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 1000 })),
    time: Type.Integer({ minimum: 0, description: 'UTC epoch ms' }),
  },
  { additionalProperties: false },
);
export type TransferStatus = Static<typeof TransferStatus>;

// ---------------------------------------------------------------------------------------------
// Outputs: stats.json and zones.geojson
// ---------------------------------------------------------------------------------------------

export const STATS_SCHEMA = 'hatake.imagery.stats/1';
export const ZONES_SCHEMA = 'hatake.imagery.zones/1';

const Num = Type.Number();
const NumOrNull = Type.Union([Type.Number(), Type.Null()]);

/** Statistics of one index over a set of pixels. Null values when no pixel was valid. */
export const IndexStats = Type.Object(
  {
    mean: NumOrNull,
    median: NumOrNull,
    /** Percentiles with linear interpolation between order statistics (numpy's default). */
    p10: NumOrNull,
    p90: NumOrNull,
    /**
     * 95th percentile, same definition: a field's p95 is the virtual N-rich reference
     * (AGRONOMY.md). Always written since it was added; optional so older outputs still read.
     */
    p95: Type.Optional(NumOrNull),
    /** Population standard deviation (ddof = 0). */
    std: NumOrNull,
    min: NumOrNull,
    max: NumOrNull,
    /** Valid pixels the statistics are over. */
    count: Type.Integer({ minimum: 0 }),
    /** count / pixels in the field (or zone) — report with every statistic; refuse below a threshold. */
    validFraction: Type.Number({ minimum: 0, maximum: 1 }),
  },
  { additionalProperties: false },
);
export type IndexStats = Static<typeof IndexStats>;

/** A heatmap PNG of one index over one field, and where it goes on a map. */
export const MapImage = Type.Object(
  {
    file: Type.String({ description: 'Path relative to the output directory' }),
    legend: Type.String({ description: 'Legend PNG, relative to the output directory' }),
    /** Axis-aligned WGS84 bounds [west, south, east, north] (Leaflet imageOverlay). */
    bounds: Type.Tuple([Num, Num, Num, Num]),
    /** The image's four corners [lon, lat]: top-left, top-right, bottom-right, bottom-left (MapLibre image source). */
    corners: Type.Array(Type.Tuple([Num, Num]), { minItems: 4, maxItems: 4 }),
    /** Index values mapped to the ends of the colour ramp. */
    range: Type.Tuple([Num, Num]),
    width: Type.Integer({ minimum: 1 }),
    height: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type MapImage = Static<typeof MapImage>;

export const FieldStats = Type.Object(
  {
    fieldId: Type.String({ maxLength: 200 }),
    /** Pixels whose centre lies in the field. */
    pixels: Type.Integer({ minimum: 0 }),
    /** Pixels that are not no-data and pass the mask. */
    validPixels: Type.Integer({ minimum: 0 }),
    validFraction: Type.Number({ minimum: 0, maximum: 1 }),
    /** Area of the field's pixels in hectares. */
    areaHa: Type.Number({ minimum: 0 }),
    indices: Type.Record(Type.String(), IndexStats),
    /** Zones made for this field (count), or 0 when the field had too few valid pixels. */
    zones: Type.Integer({ minimum: 0 }),
    maps: Type.Record(Type.String(), MapImage),
  },
  { additionalProperties: false },
);
export type FieldStats = Static<typeof FieldStats>;

/** Where the radiometric offset came from — provenance for every number downstream. */
export const OffsetSource = Type.Union([
  Type.Literal('user'),
  Type.Literal('manifest'),
  Type.Literal('metadata'),
  Type.Literal('profile'),
]);

export const SceneInfo = Type.Object(
  {
    sceneId: Type.String({ maxLength: 200 }),
    /** Acquisition time (UTC, ISO 8601), or null when neither metadata nor user said. */
    acquired: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    profile: Type.String(),
    files: Type.Array(Type.String()),
    /** Band role → "file#band (name)" actually used. */
    bands: Type.Record(Type.String(), Type.String()),
    crs: Type.String({ description: 'e.g. EPSG:32654' }),
    width: Type.Integer({ minimum: 1 }),
    height: Type.Integer({ minimum: 1 }),
    /** Pixel size in CRS units [x, y]. */
    pixelSize: Type.Tuple([Num, Num]),
    radiometry: Type.Object(
      {
        scale: Num,
        offset: Num,
        offsetSource: OffsetSource,
        /** What decided it: e.g. "processing baseline 02.14 (< 04.00)". */
        offsetReason: Type.String(),
        nodata: NumOrNull,
      },
      { additionalProperties: false },
    ),
    mask: Type.Object(
      {
        kind: Type.Union([Type.Literal('scl'), Type.Literal('raster'), Type.Literal('none')]),
        keep: Type.Optional(Type.Array(Type.Integer())),
        file: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type SceneInfo = Static<typeof SceneInfo>;

export const IndexInfo = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    formula: Type.String(),
    /** The band names the index was computed from, e.g. ["B08", "B05"]. */
    bands: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);

/** stats.json: per field, per index. */
export const SceneStats = Type.Object(
  {
    schema: Type.Literal(STATS_SCHEMA),
    scene: SceneInfo,
    indices: Type.Array(IndexInfo),
    zoning: Type.Object(
      {
        index: Type.String(),
        k: Type.String({ description: 'fixed k, or "auto(3-5)"' }),
        minRegionPixels: Type.Integer({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    fields: Type.Record(Type.String(), FieldStats),
  },
  { additionalProperties: false },
);
export type SceneStats = Static<typeof SceneStats>;

export const MultiPolygonGeometry = Type.Object(
  {
    type: Type.Literal('MultiPolygon'),
    coordinates: Type.Array(Type.Array(Type.Array(Type.Tuple([Num, Num])))),
  },
  { additionalProperties: false },
);

/** One management zone of one field — what a prescription is made from. */
export const ZoneProperties = Type.Object(
  {
    fieldId: Type.String(),
    sceneId: Type.String(),
    acquired: Type.Union([Type.String(), Type.Null()]),
    /** 1 = lowest mean of the zoning index … k = highest. */
    zone: Type.Integer({ minimum: 1 }),
    k: Type.Integer({ minimum: 1 }),
    zoningIndex: Type.String(),
    pixels: Type.Integer({ minimum: 0 }),
    areaHa: Type.Number({ minimum: 0 }),
    /** Valid pixels of the zone / its pixels (zones are drawn from valid pixels: 1 unless an index was undefined). */
    validFraction: Type.Number({ minimum: 0, maximum: 1 }),
    /** The field's valid fraction — how much of the field the zoning could see. */
    fieldValidFraction: Type.Number({ minimum: 0, maximum: 1 }),
    /**
     * The field's 95th percentile of each index over all its valid pixels (stats.json's
     * `fields[id].indices[index].p95`), for the virtual N-rich reference. Always written since it
     * was added; zones written before lack it.
     */
    fieldP95: Type.Optional(Type.Record(Type.String(), NumOrNull)),
    indices: Type.Record(Type.String(), IndexStats),
  },
  { additionalProperties: false },
);
export type ZoneProperties = Static<typeof ZoneProperties>;

export const ZoneFeature = Type.Object(
  {
    type: Type.Literal('Feature'),
    id: Type.String(),
    geometry: MultiPolygonGeometry,
    properties: ZoneProperties,
  },
  { additionalProperties: false },
);
export type ZoneFeature = Static<typeof ZoneFeature>;

/** zones.geojson: WGS84 (RFC 7946) polygons, rings counter-clockwise, holes clockwise. */
export const ZoneCollection = Type.Object(
  {
    type: Type.Literal('FeatureCollection'),
    schema: Type.Literal(ZONES_SCHEMA),
    features: Type.Array(ZoneFeature),
  },
  { additionalProperties: false },
);
export type ZoneCollection = Static<typeof ZoneCollection>;
