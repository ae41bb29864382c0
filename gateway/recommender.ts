// Fertilization recommendations on the gateway: when a scene has been processed, each field
// whose crop has a model gets a per-zone recommendation from the ONNX model (in the worker-thread
// pool, off the event loop that serves MQTT), with the inputs the gateway knows and their
// provenance. It is queued for the server, where an extension officer reviews it. A missing or
// out-of-range input refuses the recommendation with a reason — never a guess. Sensor inputs come
// from the latest readings of the field's devices (freshness is the card's maxAgeHours); the
// refusals are kept (the latest per field) for the status page and counted in a metric.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isHatakeError, type ErrorCode } from '../protocol/errors.ts';
import type { Manifest } from '../protocol/manifest.ts';
import type { ModelCard } from '../protocol/model-card.ts';
import type { Recommendation } from '../protocol/recommendation.ts';
import type { ZoneCollection } from '../protocol/imagery.ts';
import { ModelRegistry } from '../edge/inference/registry.ts';
import { modelRef } from '../protocol/model-card.ts';
import { InferencePool } from '../edge/inference/pool.ts';
import { recommend, type RecommendRequest } from '../edge/recommend/recommend.ts';
import type { Observed } from '../edge/inference/inputs.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../models/paths.ts';
import type { Logger } from '../runtime/log.ts';
import type { GatewayStore } from './store.ts';
import type { GatewayMetrics } from './metrics.ts';

/**
 * Which model and crop profile serve a crop. A model is named by id alone: the highest version
 * installed serves — the shipped one, or a newer one the server sent down (verified before it was
 * installed).
 */
export const CROP_MODELS: Record<string, { model: string; profile: string }> = {
  'winter-wheat': { model: 'osu-sbnrc', profile: 'winter-wheat-osu-2007' },
  wheat: { model: 'osu-sbnrc', profile: 'winter-wheat-osu-2007' },
  rice: { model: 'rice-pi-topdress-ndvi', profile: 'rice-koshihikari' },
  corn: { model: 'holland-schepers-si', profile: 'corn-holland-schepers' },
};

const DAY = 86_400_000;
/** Winter wheat: a day counts for INSEY when its GDD is positive (mean above 4.4 °C, AGRONOMY.md). */
const WHEAT_GDD_BASE_C = 4.4;

/**
 * Days from planting to `now` with GDD > 0. Days the weather station covers count by their mean
 * temperature; days it does not cover count as growing days, and the source says so.
 */
export function daysGddPositive(
  plantingDate: string,
  now: number,
  dailyMeanC: ReadonlyMap<string, number>,
): { days: number; source: string } {
  const start = Date.parse(`${plantingDate}T00:00:00Z`);
  let days = 0;
  let measured = 0;
  for (let t = start; t < now; t += DAY) {
    const mean = dailyMeanC.get(new Date(t).toISOString().slice(0, 10));
    if (mean === undefined) days++;
    else {
      measured++;
      if (mean > WHEAT_GDD_BASE_C) days++;
    }
  }
  const total = Math.max(0, Math.floor((now - start) / DAY));
  return {
    days,
    source:
      measured === total
        ? `planting ${plantingDate}; daily mean air temperature from the field's weather station`
        : `planting ${plantingDate}; ${measured} of ${total} days from the weather station, the rest counted as growing days`,
  };
}

/** A device's latest reading of one metric, as GatewayStore.latest gives it (flags as JSON). */
export type LatestReading = ReturnType<GatewayStore['latest']>[number];

/** A recommendation the gateway did not make, and why. */
export interface Refusal {
  field: string;
  /** The model asked (id@version when it was found, else the id CROP_MODELS names). */
  model: string;
  code: ErrorCode;
  reason: string;
  time: number;
}

export interface RecommenderOptions {
  /** The latest reading of every metric of a device (GatewayStore.latest). */
  latest?: (device: string) => LatestReading[];
  metrics?: GatewayMetrics;
}

/** Refusals kept for the status page: the latest per field, at most this many fields. */
const MAX_REFUSALS = 20;

function flagsOf(raw: string): string[] {
  try {
    const v: unknown = JSON.parse(raw);
    return Array.isArray(v) ? v.map(String) : [String(raw)];
  } catch {
    return [String(raw)];
  }
}

/**
 * The sensor inputs a card asks for, from the latest readings of the devices the manifest puts in
 * the field: per metric the most recent reading that carries no quality flag and is in the unit
 * the card states. Whether it is fresh enough is the card's maxAgeHours, checked at assembly.
 * `skipped` says which readings were passed over and why (it goes into a refusal's reason).
 */
export function sensorInputs(
  card: ModelCard,
  farm: Manifest,
  fieldId: string,
  latest: (device: string) => LatestReading[],
): { sensors: Record<string, Observed>; skipped: string[] } {
  const sensors: Record<string, Observed> = {};
  const skipped: string[] = [];
  const wanted = new Map<string, string>();
  for (const i of card.inputs) if (i.source.kind === 'sensor_metric') wanted.set(i.source.metric, i.unit);
  if (wanted.size === 0) return { sensors, skipped };
  const best = new Map<string, { r: LatestReading; device: Manifest['devices'][number] }>();
  for (const device of farm.devices) {
    if (device.field !== fieldId) continue;
    for (const r of latest(device.id)) {
      const unit = wanted.get(r.metric);
      if (unit === undefined) continue;
      const flags = flagsOf(r.flags);
      if (flags.length > 0) {
        skipped.push(`${r.metric} of ${device.id} was flagged ${flags.join(', ')}`);
        continue;
      }
      if (r.unit !== unit) {
        skipped.push(`${r.metric} of ${device.id} is in ${r.unit}, the model wants ${unit}`);
        continue;
      }
      const b = best.get(r.metric);
      if (!b || r.time > b.r.time) best.set(r.metric, { r, device });
    }
  }
  for (const [metric, { r, device }] of best) {
    sensors[metric] = {
      value: r.value,
      time: r.time,
      source: `sensor ${device.id}${device.depth !== undefined ? ` at ${device.depth} m` : ''}, ${metric}`,
    };
  }
  return { sensors, skipped };
}

export class GatewayRecommender {
  private pool: InferencePool | undefined;
  private registry: ModelRegistry | undefined;
  private readonly modelsDir: string;
  private readonly log: Logger;
  private readonly opts: RecommenderOptions;
  /** Fields whose last recommendation was refused, newest first (cleared when one is made). */
  readonly refused: Refusal[] = [];

  constructor(dataDir: string, log: Logger, opts: RecommenderOptions = {}) {
    this.modelsDir = join(dataDir, 'models');
    this.log = log;
    this.opts = opts;
  }

  private forget(field: string): void {
    for (let k = this.refused.length - 1; k >= 0; k--)
      if (this.refused[k]!.field === field) this.refused.splice(k, 1);
  }

  private reg(): ModelRegistry {
    // Re-read each time: a model may have arrived by downlink since.
    const dirs = [ARTIFACTS_DIR, TRAINED_DIR, ...(existsSync(this.modelsDir) ? [this.modelsDir] : [])];
    this.registry = new ModelRegistry({ modelDirs: dirs, profileDirs: [PROFILES_DIR] });
    return this.registry;
  }

  /**
   * Recommendations for every field of a processed scene whose crop has a model. `dailyMeanC`
   * gives the weather station's daily mean temperatures (YYYY-MM-DD → °C).
   */
  async forScene(
    farm: Manifest,
    gatewayId: string,
    zones: ZoneCollection,
    dailyMeanC: ReadonlyMap<string, number>,
    now = Date.now(),
  ): Promise<Recommendation[]> {
    const out: Recommendation[] = [];
    for (const field of farm.fields) {
      const choice = field.crop ? CROP_MODELS[field.crop] : undefined;
      const features = zones.features.filter((f) => f.properties.fieldId === field.id);
      if (!choice || features.length === 0) continue;
      let model = choice.model;
      let skipped: string[] = [];
      try {
        const reg = this.reg();
        const entry = reg.entry(choice.model);
        const ref = modelRef(entry.card);
        model = ref;
        this.pool ??= await InferencePool.start({ size: 1 });
        await this.pool.load(reg.load(ref));
        const fieldAttributes: RecommendRequest['fieldAttributes'] = {};
        // What was scouted in the field (plant height, stems …), each with the day it was measured.
        for (const [name, o] of Object.entries(field.observations ?? {})) {
          fieldAttributes[name] = {
            value: o.value,
            time: Date.parse(`${o.date}T00:00:00Z`),
            source: `field observation ${o.date}${o.note ? ` (${o.note})` : ''}`,
          };
        }
        if (field.plantingDate) {
          const g = daysGddPositive(field.plantingDate, now, dailyMeanC);
          fieldAttributes.days_gdd_positive = { value: g.days, time: now, source: g.source };
        }
        const s = sensorInputs(entry.card, farm, field.id, this.opts.latest ?? (() => []));
        skipped = s.skipped;
        out.push(
          await recommend(this.pool, {
            farm: farm.farm.id,
            field: field.id,
            card: entry.card,
            profile: reg.profile(choice.profile),
            zones: { ...zones, features },
            fieldAttributes,
            sensors: s.sensors,
            // The manifest has no N-rich strip yet: the field's virtual 95th percentile.
            reference: { kind: 'virtual_p95' },
            now,
            by: `gateway ${gatewayId}`,
          }),
        );
        this.forget(field.id);
      } catch (e) {
        if (!isHatakeError(e)) throw e;
        // Refused with its reason (a missing or out-of-range input, an unknown model…).
        const reason = `${e.describe()}${skipped.length ? `; not used: ${skipped.join('; ')}` : ''}`;
        this.forget(field.id);
        this.refused.unshift({ field: field.id, model, code: e.code, reason, time: now });
        this.refused.length = Math.min(this.refused.length, MAX_REFUSALS);
        this.opts.metrics?.recommendationsRefused.inc({ model: choice.model, code: e.code });
        this.log.warn({ field: field.id, model, reason }, 'no recommendation for this field');
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
