// Irrigation by soil-water depletion (FAO-56 chapter 8). From a field's soil texture (θFC, θWP
// from table 19), crop (p and root depth from table 22) and its soil probes' recent VWC, it
// computes TAW, RAW (p adjusted for ETc, clamped 0.1–0.8) and the root-zone depletion, estimates
// the depletion rate from the last hours' readings, and says "irrigate within N hours" with
// every number behind it. ETc is taken as the measured depletion rate when the soil is drying
// below field capacity — wetter soil is still draining, which is not crop water use — capped at
// a plausible maximum, else the default (no p adjustment). At or above field capacity there is
// no depletion to project: no "irrigate within N hours" until the soil is below it.
import { Type, type Static } from '@sinclair/typebox';
import type { EvidencePoint } from '../../protocol/tip.ts';
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
import { fieldDevices, measures, prepare, seriesOf, type RuleContext, type RuleNote } from './context.ts';
import { CROPS, resolveCrop } from './crops.ts';
import { clamp, fmt, short } from './format.ts';
import { HOUR_MS } from './local-time.ts';
import { latestPoint, pointsIn, slopePerHour } from './series.ts';
import {
  FAO56_TABLE19,
  adjustedDepletionFraction,
  readilyAvailableWater,
  resolveTexture,
  rootZoneDepletion,
  textureMidpoints,
  totalAvailableWater,
  type TextureId,
} from './soil.ts';

const RULE_ID = 'irrigation-fao56';
const VERSION = '1.1.0';

const Fraction = Type.Number({ minimum: 0, maximum: 1 });
const Positive = (max: number) => Type.Number({ exclusiveMinimum: 0, maximum: max });

export const IrrigationParamsSchema = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 100 }),
    /** Per crop: FAO-56 table 22 depletion fraction p (for ETc ≈ 5 mm/day) and effective root depth, m. */
    crops: Type.Record(
      Type.String(),
      Type.Object(
        { p: Type.Number({ minimum: 0.05, maximum: 0.95 }), rootDepthM: Positive(5) },
        { additionalProperties: false },
      ),
    ),
    /** Per texture: θFC and θWP, m³/m³. */
    soils: Type.Record(
      Type.String(),
      Type.Object({ fc: Fraction, wp: Fraction }, { additionalProperties: false }),
    ),
    /** Per field id: measured soil constants or a different root depth. */
    fieldOverrides: Type.Record(
      Type.String(),
      Type.Object(
        {
          rootDepthM: Type.Optional(Positive(5)),
          fc: Type.Optional(Fraction),
          wp: Type.Optional(Fraction),
          p: Type.Optional(Type.Number({ minimum: 0.05, maximum: 0.95 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Raise a tip when RAW will be reached within this many hours. */
    horizonHours: Positive(240),
    /** Once raised, clears only when RAW is more than this many hours further away. */
    hysteresisHours: Type.Number({ minimum: 0, maximum: 240 }),
    /** Window of readings the depletion rate is fitted over. */
    rateWindowHours: Positive(240),
    minRateSpanHours: Type.Number({ minimum: 0, maximum: 240 }),
    minRatePoints: Type.Integer({ minimum: 2, maximum: 100_000 }),
    /** ETc assumed when the rate cannot be measured (5 mm/day leaves p unadjusted). */
    defaultEtcMmPerDay: Type.Number({ minimum: 0, maximum: 30 }),
    /**
     * A measured ETc above this is capped to it, for p and for the time to RAW: soil drying faster
     * is still draining (or the probe is off), not a crop using water.
     */
    maxEtcMmPerDay: Type.Number({ exclusiveMinimum: 0, maximum: 30 }),
    /** A probe's latest reading older than this is stale. */
    maxAgeHours: Positive(240),
    /** The field's irrigation application rate, mm/h, to turn an amount into minutes; null if unknown. */
    applicationRateMmPerHour: Type.Union([Positive(1000), Type.Null()]),
    ttlHours: Positive(24 * 30),
    coolDownHours: Type.Number({ minimum: 0, maximum: 24 * 30 }),
  },
  { additionalProperties: false },
);
export type IrrigationParams = Static<typeof IrrigationParamsSchema>;

const SOURCES = [
  {
    citation:
      'Allen, Pereira, Raes & Smith (1998) Crop evapotranspiration, FAO Irrigation and Drainage Paper 56, ch. 8 (eq. 82–83, tables 19 and 22)',
    url: 'https://www.fao.org/4/x0490e/x0490e00.htm',
  },
];

const soilDefaults = Object.fromEntries(
  (Object.keys(FAO56_TABLE19) as TextureId[]).map((t) => [t, textureMidpoints(t)]),
);

export const IRRIGATION_DEFAULTS: IrrigationParams = {
  label: 'irrigation-fao56-defaults@1.1.0',
  // FAO-56 table 22: p; root depth = the lower end of the table's maximum effective rooting depth.
  crops: {
    maize: { p: 0.55, rootDepthM: 1.0 },
    wheat: { p: 0.55, rootDepthM: 1.0 },
    soybean: { p: 0.5, rootDepthM: 0.6 },
    potato: { p: 0.35, rootDepthM: 0.4 },
    tomato: { p: 0.4, rootDepthM: 0.7 },
  },
  soils: soilDefaults,
  fieldOverrides: {},
  horizonHours: 48,
  hysteresisHours: 12,
  rateWindowHours: 24,
  minRateSpanHours: 6,
  minRatePoints: 4,
  defaultEtcMmPerDay: 5,
  // FAO-56 table 2: mean ETo is at most 6–9 mm/day (arid regions, warm > 30 °C), and Kc max
  // (eq. 72) at most about 1.3: a crop's ETc hardly exceeds 9 × 1.3 ≈ 12 mm/day (check against
  // the local record).
  maxEtcMmPerDay: 12,
  maxAgeHours: 3,
  applicationRateMmPerHour: null,
  ttlHours: 24,
  coolDownHours: 12,
};

/** Hours-to-RAW reported when the soil is not drying: a large finite number, never Infinity. */
export const NOT_DRYING_HOURS = 10_000;

function consistent(p: IrrigationParams): string | undefined {
  for (const [id, s] of Object.entries(p.soils)) if (!(s.fc > s.wp)) return `soils.${id}: fc must exceed wp`;
  if (p.defaultEtcMmPerDay > p.maxEtcMmPerDay) return 'defaultEtcMmPerDay must not exceed maxEtcMmPerDay';
  for (const [id, o] of Object.entries(p.fieldOverrides))
    if (o.fc !== undefined && o.wp !== undefined && !(o.fc > o.wp))
      return `fieldOverrides.${id}: fc must exceed wp`;
  return undefined;
}

/** The numbers behind an irrigation judgement (exported for tests and the status page). */
export interface WaterBalance {
  theta: number;
  fc: number;
  wp: number;
  rootDepthM: number;
  pTable: number;
  /** ETc used for p and the time to RAW: measured (capped) or the default. */
  etcMmPerDay: number;
  etcMeasured: boolean;
  /** The measured ETc was above the cap and the cap is used. */
  etcCapped: boolean;
  p: number;
  tawMm: number;
  rawMm: number;
  depletionMm: number;
  /** Depletion rate, mm/h (positive: drying), if it could be measured. */
  rateMmPerHour: number | undefined;
  /** Hours until depletion reaches RAW at ETc; NOT_DRYING_HOURS when not drying or at/above θFC. */
  hoursToRaw: number;
}

/** FAO-56 root-zone balance for one field state. */
export function waterBalance(input: {
  theta: number;
  fc: number;
  wp: number;
  rootDepthM: number;
  pTable: number;
  rateMmPerHour: number | undefined;
  defaultEtcMmPerDay: number;
  /** Cap on a measured ETc (mm/day); none when omitted. */
  maxEtcMmPerDay?: number;
}): WaterBalance {
  const { theta, fc, wp, rootDepthM, pTable, rateMmPerHour } = input;
  const drying = rateMmPerHour !== undefined && rateMmPerHour > 0;
  const measured = drying ? rateMmPerHour * 24 : undefined;
  const cap = input.maxEtcMmPerDay ?? Infinity;
  const etcCapped = measured !== undefined && measured > cap;
  const etcMmPerDay = measured === undefined ? input.defaultEtcMmPerDay : Math.min(measured, cap);
  const p = adjustedDepletionFraction(pTable, etcMmPerDay);
  const tawMm = totalAvailableWater(fc, wp, rootDepthM);
  const rawMm = readilyAvailableWater(p, tawMm);
  const depletionMm = rootZoneDepletion(fc, theta, rootDepthM);
  // At or above field capacity nothing is depleted yet and the water leaving is drainage: no
  // time to RAW is told until the soil is below field capacity.
  const belowFc = theta < fc;
  const hoursToRaw =
    depletionMm >= rawMm
      ? 0
      : drying && belowFc
        ? Math.min(NOT_DRYING_HOURS, (rawMm - depletionMm) / (etcCapped ? cap / 24 : rateMmPerHour))
        : NOT_DRYING_HOURS;
  return {
    theta,
    fc,
    wp,
    rootDepthM,
    pTable,
    etcMmPerDay,
    etcMeasured: drying,
    etcCapped,
    p,
    tawMm,
    rawMm,
    depletionMm,
    rateMmPerHour,
    hoursToRaw,
  };
}

function evaluate(ctx: RuleContext, params: IrrigationParams = IRRIGATION_DEFAULTS): RuleResult {
  const P = checkParams<IrrigationParams>(RULE_ID, IrrigationParamsSchema, params, consistent);
  const p = prepare(ctx);
  const now = p.now;
  const notes: RuleNote[] = [];
  const assessments: Assessment[] = [];
  const note = (n: Omit<RuleNote, 'rule'>) => notes.push({ rule: RULE_ID, ...n });

  for (const field of p.fields) {
    const probes = fieldDevices(p, field.id, 'soil_vwc');
    if (probes.length === 0) continue; // no soil probe: the rule does not apply to this field
    const crop = resolveCrop(field.crop);
    if (field.crop === undefined) {
      note({ code: 'missing_attribute', field: field.id, message: `field ${field.id} has no crop` });
      continue;
    }
    if (crop === 'rice') {
      note({ code: 'not_applicable', field: field.id, message: 'paddy rice is managed by water level' });
      continue;
    }
    const cropParams = crop ? P.crops[crop] : undefined;
    if (!crop || !cropParams) {
      note({
        code: 'unknown_crop',
        field: field.id,
        message: `no FAO-56 p and root depth for crop "${field.crop}"`,
      });
      continue;
    }
    const o = P.fieldOverrides[field.id] ?? {};
    const texture = resolveTexture(field.soilTexture);
    let soil: { fc: number; wp: number } | undefined;
    if (o.fc !== undefined && o.wp !== undefined) soil = { fc: o.fc, wp: o.wp };
    else if (texture && P.soils[texture]) {
      const base = P.soils[texture];
      soil = { fc: o.fc ?? base.fc, wp: o.wp ?? base.wp };
    }
    if (!soil || !(soil.fc > soil.wp)) {
      note({
        code: field.soilTexture === undefined ? 'missing_attribute' : 'unknown_texture',
        field: field.id,
        message:
          field.soilTexture === undefined
            ? `field ${field.id} has no soil texture`
            : `soil texture "${field.soilTexture}" is not an FAO-56 table 19 class (give fc and wp for the field)`,
      });
      continue;
    }
    const rootDepthM = o.rootDepthM ?? cropParams.rootDepthM;
    const pTable = o.p ?? cropParams.p;

    const windowFrom = now - P.rateWindowHours * HOUR_MS;
    const latest: EvidencePoint[] = [];
    const starts: EvidencePoint[] = [];
    const rates: number[] = [];
    for (const d of probes) {
      const s = seriesOf(p, d.id, 'soil_vwc');
      const last = latestPoint(s, now);
      if (!last) {
        note({ code: 'no_data', field: field.id, device: d.id, message: `no soil moisture from ${d.id}` });
        continue;
      }
      if (now - last.time > P.maxAgeHours * HOUR_MS) {
        note({
          code: 'stale_data',
          field: field.id,
          device: d.id,
          message: `latest soil moisture from ${d.id} is ${fmt((now - last.time) / HOUR_MS)} h old`,
        });
        continue;
      }
      latest.push({
        device: d.id,
        metric: 'soil_vwc',
        value: last.value,
        unit: 'm3/m3',
        time: last.time,
        role: 'latest',
      });
      // Crop water use is fitted only where the soil is at or below field capacity: above it the
      // soil drains (after rain or irrigation), and that fall is not use.
      const inWindow = pointsIn(s, windowFrom, now);
      const pts = inWindow.filter((pt) => pt.value <= soil.fc);
      const span = pts.length > 0 ? (pts[pts.length - 1]!.time - pts[0]!.time) / HOUR_MS : 0;
      const slope =
        pts.length >= P.minRatePoints && span >= P.minRateSpanHours ? slopePerHour(pts) : undefined;
      if (slope !== undefined) {
        rates.push(-slope * 1000 * rootDepthM);
        starts.push({
          device: d.id,
          metric: 'soil_vwc',
          value: pts[0]!.value,
          unit: 'm3/m3',
          time: pts[0]!.time,
          role: 'rate_window_start',
        });
      } else
        note({
          code: 'insufficient_data',
          field: field.id,
          device: d.id,
          count: pts.length,
          message:
            pts.length < inWindow.length
              ? `too few soil moisture readings from ${d.id} at or below field capacity (θFC ${fmt(soil.fc, 2)}) for a depletion rate (${pts.length} of ${inWindow.length} over ${fmt(span)} h; wetter soil is draining)`
              : `too few soil moisture readings from ${d.id} for a depletion rate (${pts.length} over ${fmt(span)} h)`,
        });
    }
    if (latest.length === 0) continue;

    const theta = latest.reduce((a, b) => a + b.value, 0) / latest.length;
    const rate = rates.length > 0 ? rates.reduce((a, b) => a + b, 0) / rates.length : undefined;
    const wb = waterBalance({
      theta,
      fc: soil.fc,
      wp: soil.wp,
      rootDepthM,
      pTable,
      rateMmPerHour: rate,
      defaultEtcMmPerDay: P.defaultEtcMmPerDay,
      maxEtcMmPerDay: P.maxEtcMmPerDay,
    });
    const trigger: Trigger = {
      value: wb.hoursToRaw,
      comparison: '<=',
      threshold: P.horizonHours,
      hysteresis: P.hysteresisHours,
    };
    const severity =
      wb.depletionMm >= wb.tawMm ? 'severe' : wb.depletionMm >= wb.rawMm ? 'warning' : 'advisory';
    const now_ = wb.hoursToRaw === 0;
    // Whole hours, rounded down (but not 29.999… from float noise down to 29).
    const withinHours = clamp(Math.floor(wb.hoursToRaw + 1e-6), 0, 240);
    const amountMm = clamp(Math.round((now_ ? wb.depletionMm : wb.rawMm) * 10) / 10, 0, 500);
    const durationMin =
      P.applicationRateMmPerHour !== null && amountMm > 0
        ? clamp(Math.ceil((amountMm / P.applicationRateMmPerHour) * 60), 1, 1440)
        : undefined;
    const valve = [...p.deviceById.values()].find(
      (d) => d.field === field.id && measures(p, d, 'valve_state'),
    );
    const fieldName = short(field.name);
    const tex = texture && o.fc === undefined ? FAO56_TABLE19[texture] : undefined;
    const soilJa = tex ? tex.ja : `θFC ${fmt(soil.fc, 2)}・θWP ${fmt(soil.wp, 2)}`;
    const soilEn = tex ? tex.en : `θFC ${fmt(soil.fc, 2)}, θWP ${fmt(soil.wp, 2)}`;
    const capJa = wb.etcCapped
      ? `（日量 ${fmt(rate! * 24)} mm は作物の蒸発散としては大きすぎるため上限 ${fmt(P.maxEtcMmPerDay)} mm/日で計算）`
      : '';
    const capEn = wb.etcCapped
      ? ` (${fmt(rate! * 24)} mm/day is more than a crop uses: ETc capped at ${fmt(P.maxEtcMmPerDay)} mm/day)`
      : '';
    const rateJa =
      rate === undefined
        ? '減少速度はデータ不足のため不明'
        : `過去${fmt(P.rateWindowHours, 0)}時間の減少速度 ${fmt(rate, 2)} mm/時${capJa}`;
    const rateEn =
      rate === undefined
        ? 'depletion rate unknown (too few readings)'
        : `changing at ${fmt(rate, 2)} mm/h over the last ${fmt(P.rateWindowHours, 0)} h${capEn}`;
    const whenJa = now_ ? '今すぐ' : `${withinHours}時間以内に`;
    const whenEn = now_ ? 'now' : `within ${withinHours} h`;
    const wiltJa = severity === 'severe' ? 'しおれ点に達しています。' : '';
    const wiltEn = severity === 'severe' ? 'The root zone is at the wilting point. ' : '';
    const cropName = CROPS[crop];
    assessments.push({
      key: dedupKey('irrigation', p.farm.id, field.id),
      trigger,
      policy: {
        ttlMs: P.ttlHours * HOUR_MS,
        coolDownMs: P.coolDownHours * HOUR_MS,
        renewOnExpiry: true,
      },
      draft: makeDraft({
        kind: 'irrigation',
        severity,
        farm: p.farm.id,
        field: field.id,
        devices: [...latest.map((l) => l.device!), ...(valve ? [valve.id] : [])],
        title: {
          ja: `${fieldName}：${whenJa}灌水を（約${fmt(amountMm, 0)} mm）`,
          en: `${fieldName}: irrigate ${whenEn} (about ${fmt(amountMm, 0)} mm)`,
        },
        text: {
          ja:
            `${wiltJa}${whenJa}約${fmt(amountMm, 0)} mm（10aあたり約${fmt(amountMm, 0)} m³）の灌水をおすすめします。` +
            `根域の水分消費量 ${fmt(wb.depletionMm)} mm／易有効水分 ${fmt(wb.rawMm)} mm` +
            `（総有効水分 ${fmt(wb.tawMm)} mm、p=${fmt(wb.p, 2)}、根域 ${fmt(rootDepthM, 2)} m、${soilJa}、${cropName.ja}）。` +
            `現在の土壌水分 ${fmt(theta * 100)} %、${rateJa}。`,
          en:
            `${wiltEn}Irrigate about ${fmt(amountMm, 0)} mm (≈${fmt(amountMm, 0)} m³ per 10a) ${whenEn}. ` +
            `Root-zone depletion ${fmt(wb.depletionMm)} mm of ${fmt(wb.rawMm)} mm readily available ` +
            `(TAW ${fmt(wb.tawMm)} mm, p ${fmt(wb.p, 2)}, root depth ${fmt(rootDepthM, 2)} m, ${soilEn}, ${cropName.en}). ` +
            `Soil moisture now ${fmt(theta * 100)} %, ${rateEn}.`,
        },
        rule: { id: RULE_ID, version: VERSION, params: P.label },
        sources: SOURCES,
        points: [...latest, ...starts],
        thresholds: [
          thresholdEvidence('hours_to_raw', trigger, 'h'),
          thresholdEvidence(
            'depletion_reaches_raw',
            { value: wb.depletionMm, comparison: '>=', threshold: wb.rawMm, hysteresis: 0 },
            'mm',
          ),
        ],
        quantities: [
          { name: 'theta', value: theta, unit: 'm3/m3' },
          { name: 'theta_fc', value: soil.fc, unit: 'm3/m3' },
          { name: 'theta_wp', value: soil.wp, unit: 'm3/m3' },
          { name: 'root_depth', value: rootDepthM, unit: 'm' },
          { name: 'taw', value: wb.tawMm, unit: 'mm' },
          { name: 'p_table', value: pTable, unit: '1' },
          { name: 'etc', value: wb.etcMmPerDay, unit: 'mm/d' },
          { name: 'etc_measured', value: wb.etcMeasured ? 1 : 0, unit: '1' },
          { name: 'p', value: wb.p, unit: '1' },
          { name: 'raw', value: wb.rawMm, unit: 'mm' },
          { name: 'depletion', value: wb.depletionMm, unit: 'mm' },
          ...(rate !== undefined ? [{ name: 'depletion_rate', value: rate, unit: 'mm/h' }] : []),
          { name: 'hours_to_raw', value: wb.hoursToRaw, unit: 'h' },
        ],
        window: { from: windowFrom, to: now },
        action: {
          type: 'irrigate',
          field: field.id,
          amountMm,
          withinHours,
          ...(durationMin !== undefined ? { durationMin } : {}),
          ...(valve ? { valve: valve.id } : {}),
        },
      }),
    });
  }
  return { rule: { id: RULE_ID, version: VERSION }, assessments, notes };
}

export const irrigationRule: Rule<IrrigationParams> = {
  id: RULE_ID,
  version: VERSION,
  kinds: ['irrigation'],
  name: { ja: '灌水（FAO-56 土壌水分消費）', en: 'Irrigation by soil-water depletion (FAO-56)' },
  sources: SOURCES,
  defaults: IRRIGATION_DEFAULTS,
  schema: IrrigationParamsSchema,
  problem: consistent,
  evaluate,
};
