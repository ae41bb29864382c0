// Imagery anomaly: a zone whose vegetation index dropped against both its own history and the
// rest of the field → "scout here". Input is the narrow ZoneIndexPoint series (context.ts):
// per scene, per zone, the zone's mean index and valid-pixel fraction. For the latest scene,
// each zone is compared with (a) the median of its own earlier values and (b) its usual offset
// from the field median, so a change of the whole field (phenology, haze, harvest) is not an
// anomaly of one zone. Both drops must exceed their thresholds.
import { Type, type Static } from '@sinclair/typebox';
import {
  checkParams,
  dedupKey,
  makeDraft,
  thresholdEvidence,
  type Assessment,
  type Rule,
  type RuleResult,
  type Trigger,
} from './assessment.ts';
import { prepare, type RuleContext, type RuleNote, type ZoneIndexPoint } from './context.ts';
import { fmt, short } from './format.ts';
import { DAY_MS, dayToDate, localDay } from './local-time.ts';
import { median } from './series.ts';

const RULE_ID = 'imagery-anomaly';
const VERSION = '1.0.0';

export const ImageryAnomalyParamsSchema = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 100 }),
    /** Indices judged (others in the input are ignored). */
    indices: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_]{0,15}$' }), { minItems: 1, maxItems: 10 }),
    /** Zone statistics with a smaller valid-pixel fraction are not used. */
    minValidFraction: Type.Number({ minimum: 0, maximum: 1 }),
    /** A scene needs this many usable zones for a field median. */
    minZones: Type.Integer({ minimum: 2, maximum: 1000 }),
    /** A zone needs this many earlier scenes for a baseline. */
    minHistory: Type.Integer({ minimum: 1, maximum: 100 }),
    historyDays: Type.Number({ exclusiveMinimum: 0, maximum: 730 }),
    /** The latest scene older than this is not judged. */
    maxSceneAgeDays: Type.Number({ exclusiveMinimum: 0, maximum: 365 }),
    /** Drop of the zone against its own median history (index units). */
    ownDrop: Type.Number({ exclusiveMinimum: 0, maximum: 10 }),
    /** Drop of the zone's offset from the field median against its usual offset. */
    relativeDrop: Type.Number({ exclusiveMinimum: 0, maximum: 10 }),
    /** Hysteresis in units of the score (−1 = both drops at their thresholds). */
    hysteresis: Type.Number({ minimum: 0, maximum: 10 }),
    ttlDays: Type.Number({ exclusiveMinimum: 0, maximum: 60 }),
    coolDownDays: Type.Number({ minimum: 0, maximum: 60 }),
  },
  { additionalProperties: false },
);
export type ImageryAnomalyParams = Static<typeof ImageryAnomalyParamsSchema>;

const SOURCES = [
  {
    citation:
      'Zone-versus-field and zone-versus-history comparison of vegetation-index zonal statistics (hatake imagery rule); thresholds are defaults in index units — check per crop and sensor',
  },
];

export const IMAGERY_ANOMALY_DEFAULTS: ImageryAnomalyParams = {
  label: 'imagery-anomaly-defaults@1.0.0',
  indices: ['ndvi', 'ndre'],
  minValidFraction: 0.6,
  minZones: 3,
  minHistory: 2,
  historyDays: 60,
  maxSceneAgeDays: 20,
  ownDrop: 0.1,
  relativeDrop: 0.08,
  hysteresis: 0.3,
  ttlDays: 10,
  coolDownDays: 5,
};

export interface ZoneAnomaly {
  zone: string;
  value: number;
  ownBaseline: number;
  ownChange: number;
  fieldMedian: number;
  relativeChange: number;
  /** max(ownChange / ownDrop, relativeChange / relativeDrop): ≤ −1 when both drops exceed their thresholds. */
  score: number;
  history: number;
  point: ZoneIndexPoint;
}

/** Scores the zones of the latest scene of one field and index (pure; for tests and maps). */
export function zoneAnomalies(
  points: readonly ZoneIndexPoint[],
  P: ImageryAnomalyParams,
): { sceneTime: number | undefined; zones: ZoneAnomaly[]; lacking: string[] } {
  const byTime = new Map<number, Map<string, ZoneIndexPoint>>();
  for (const pt of points) {
    if (pt.validFraction < P.minValidFraction) continue;
    let m = byTime.get(pt.time);
    if (!m) byTime.set(pt.time, (m = new Map()));
    m.set(pt.zone, pt);
  }
  const fieldMedian = new Map<number, number>();
  for (const [t, m] of byTime) {
    if (m.size >= P.minZones) fieldMedian.set(t, median([...m.values()].map((z) => z.mean))!);
  }
  const times = [...fieldMedian.keys()].sort((a, b) => a - b);
  const latest = times[times.length - 1];
  if (latest === undefined) return { sceneTime: undefined, zones: [], lacking: [] };
  const earlier = times.filter((t) => t < latest && t >= latest - P.historyDays * DAY_MS);
  const zones: ZoneAnomaly[] = [];
  const lacking: string[] = [];
  const medT = fieldMedian.get(latest)!;
  for (const [zone, pt] of byTime.get(latest)!) {
    const own: number[] = [];
    const rel: number[] = [];
    for (const t of earlier) {
      const z = byTime.get(t)!.get(zone);
      if (z) {
        own.push(z.mean);
        rel.push(z.mean - fieldMedian.get(t)!);
      }
    }
    if (own.length < P.minHistory) {
      lacking.push(zone);
      continue;
    }
    const ownBaseline = median(own)!;
    const ownChange = pt.mean - ownBaseline;
    const relativeChange = pt.mean - medT - median(rel)!;
    zones.push({
      zone,
      value: pt.mean,
      ownBaseline,
      ownChange,
      fieldMedian: medT,
      relativeChange,
      score: Math.max(ownChange / P.ownDrop, relativeChange / P.relativeDrop),
      history: own.length,
      point: pt,
    });
  }
  return { sceneTime: latest, zones, lacking };
}

function evaluate(ctx: RuleContext, params: ImageryAnomalyParams = IMAGERY_ANOMALY_DEFAULTS): RuleResult {
  const P = checkParams<ImageryAnomalyParams>(RULE_ID, ImageryAnomalyParamsSchema, params);
  const p = prepare(ctx);
  const now = p.now;
  const notes: RuleNote[] = [];
  const assessments: Assessment[] = [];
  const horizon = now - (P.historyDays + P.maxSceneAgeDays) * DAY_MS;

  const groups = new Map<string, ZoneIndexPoint[]>();
  for (const pt of p.zoneIndex) {
    if (!P.indices.includes(pt.index) || pt.time < horizon || !p.fieldById.has(pt.field)) continue;
    const k = `${pt.field}\n${pt.index}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(pt);
  }
  for (const [k, pts] of groups) {
    const [fieldId, index] = k.split('\n') as [string, string];
    const field = p.fieldById.get(fieldId)!;
    const { sceneTime, zones, lacking } = zoneAnomalies(pts, P);
    if (sceneTime === undefined) {
      notes.push({
        rule: RULE_ID,
        code: 'insufficient_data',
        field: fieldId,
        message: `no ${index} scene with ${P.minZones} zones of valid fraction ≥ ${P.minValidFraction}`,
      });
      continue;
    }
    if (now - sceneTime > P.maxSceneAgeDays * DAY_MS) {
      notes.push({
        rule: RULE_ID,
        code: 'stale_data',
        field: fieldId,
        message: `latest ${index} scene is older than ${P.maxSceneAgeDays} days`,
      });
      continue;
    }
    if (lacking.length > 0)
      notes.push({
        rule: RULE_ID,
        code: 'insufficient_data',
        field: fieldId,
        count: lacking.length,
        message: `${lacking.length} zones have fewer than ${P.minHistory} earlier ${index} scenes`,
      });
    const INDEX = index.toUpperCase();
    const date = dayToDate(localDay(p.tz, sceneTime));
    for (const z of zones) {
      const trigger: Trigger = { value: z.score, comparison: '<=', threshold: -1, hysteresis: P.hysteresis };
      const name = short(field.name);
      const zoneName = short(z.zone, 20);
      assessments.push({
        key: dedupKey('imagery_anomaly', p.farm.id, fieldId, index, z.zone),
        trigger,
        policy: { ttlMs: P.ttlDays * DAY_MS, coolDownMs: P.coolDownDays * DAY_MS, renewOnExpiry: false },
        draft: makeDraft({
          kind: 'imagery_anomaly',
          severity: z.score <= -2 ? 'warning' : 'advisory',
          farm: p.farm.id,
          field: fieldId,
          zone: z.zone,
          devices: [],
          title: {
            ja: `${name}：ゾーン${zoneName}を見回ってください（${INDEX}低下）`,
            en: `${name}: scout zone ${zoneName} (${INDEX} dropped)`,
          },
          text: {
            ja:
              `${date}の画像で、ゾーン${zoneName}の${INDEX}が ${fmt(z.value, 2)} と、このゾーンのこれまでの中央値 ${fmt(z.ownBaseline, 2)} から ${fmt(z.ownChange, 2)}、` +
              `圃場全体（中央値 ${fmt(z.fieldMedian, 2)}）との差でも ${fmt(z.relativeChange, 2)} 下がりました。` +
              `病害虫、湿害・干害、欠株、肥料切れなどを現地で確かめてください。`,
            en:
              `In the ${date} scene, ${INDEX} of zone ${zoneName} is ${fmt(z.value, 2)}: ${fmt(z.ownChange, 2)} against its own median of ${fmt(z.ownBaseline, 2)}, ` +
              `and ${fmt(z.relativeChange, 2)} against its usual place relative to the field (median ${fmt(z.fieldMedian, 2)}). ` +
              `Check it on the ground: pests, disease, waterlogging or drought, gaps, nutrient shortage.`,
          },
          rule: { id: RULE_ID, version: VERSION, params: P.label },
          sources: SOURCES,
          points: [{ metric: index, value: z.value, unit: '1', time: sceneTime, role: 'zone_mean' }],
          thresholds: [
            thresholdEvidence('score', trigger, '1'),
            thresholdEvidence(
              'own_drop',
              { value: z.ownChange, comparison: '<=', threshold: -P.ownDrop, hysteresis: 0 },
              '1',
            ),
            thresholdEvidence(
              'relative_drop',
              { value: z.relativeChange, comparison: '<=', threshold: -P.relativeDrop, hysteresis: 0 },
              '1',
            ),
          ],
          quantities: [
            { name: 'zone_mean', value: z.value, unit: '1' },
            { name: 'own_baseline', value: z.ownBaseline, unit: '1' },
            { name: 'field_median', value: z.fieldMedian, unit: '1' },
            { name: 'history_scenes', value: z.history, unit: '1' },
            { name: 'valid_fraction', value: z.point.validFraction, unit: '1' },
          ],
          window: { from: Math.max(0, sceneTime - P.historyDays * DAY_MS), to: sceneTime },
          action: {
            type: 'scout',
            field: fieldId,
            target: 'crop_stress',
            zone: z.zone,
            ...(z.point.centroid ? { position: z.point.centroid } : {}),
            withinHours: 72,
          },
        }),
      });
    }
  }
  return { rule: { id: RULE_ID, version: VERSION }, assessments, notes };
}

export const imageryAnomalyRule: Rule<ImageryAnomalyParams> = {
  id: RULE_ID,
  version: VERSION,
  kinds: ['imagery_anomaly'],
  name: { ja: '画像からの生育ムラ', en: 'Imagery anomaly' },
  sources: SOURCES,
  defaults: IMAGERY_ANOMALY_DEFAULTS,
  schema: ImageryAnomalyParamsSchema,
  evaluate,
};
