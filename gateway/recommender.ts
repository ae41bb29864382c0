// Fertilization recommendations on the gateway: when a scene has been processed, each field
// whose crop has a model gets a per-zone recommendation from the ONNX model (in the worker-thread
// pool, off the event loop that serves MQTT), with the inputs the gateway knows and their
// provenance. It is queued for the server, where an extension officer reviews it. A missing or
// out-of-range input refuses the recommendation with a reason — never a guess.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isHatakeError } from '../protocol/errors.ts';
import type { Manifest } from '../protocol/manifest.ts';
import type { Recommendation } from '../protocol/recommendation.ts';
import type { ZoneCollection } from '../protocol/imagery.ts';
import { ModelRegistry } from '../edge/inference/registry.ts';
import { modelRef } from '../protocol/model-card.ts';
import { InferencePool } from '../edge/inference/pool.ts';
import { recommend, type RecommendRequest } from '../edge/recommend/recommend.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../models/paths.ts';
import type { Logger } from '../runtime/log.ts';

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

export class GatewayRecommender {
  private pool: InferencePool | undefined;
  private registry: ModelRegistry | undefined;
  private readonly modelsDir: string;
  private readonly log: Logger;
  readonly refused: { field: string; reason: string; time: number }[] = [];

  constructor(dataDir: string, log: Logger) {
    this.modelsDir = join(dataDir, 'models');
    this.log = log;
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
      try {
        const reg = this.reg();
        const entry = reg.entry(choice.model);
        const ref = modelRef(entry.card);
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
        out.push(
          await recommend(this.pool, {
            farm: farm.farm.id,
            field: field.id,
            card: entry.card,
            profile: reg.profile(choice.profile),
            zones: { ...zones, features },
            fieldAttributes,
            reference: { kind: 'virtual_p95' },
            now,
            by: `gateway ${gatewayId}`,
          }),
        );
      } catch (e) {
        if (!isHatakeError(e)) throw e;
        // Refused with its reason (a missing or out-of-range input, an unknown model…).
        this.refused.unshift({ field: field.id, reason: e.describe(), time: now });
        this.refused.length = Math.min(this.refused.length, 20);
        this.log.warn({ field: field.id, reason: e.describe() }, 'no recommendation for this field');
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
