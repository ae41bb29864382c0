// Fertilization recommendations on the gateway: when a scene has been processed, each field
// whose crop has a model gets a per-zone recommendation from the ONNX model (in the worker-thread
// pool, off the event loop that serves MQTT), with the inputs the gateway knows and their
// provenance. It is queued for the server, where an extension officer reviews it. A missing or
// out-of-range input refuses the recommendation with a reason — never a guess. Sensor inputs come
// from the latest readings of the field's devices (freshness is the card's maxAgeHours); the
// refusals are kept (the latest per field) for the status page and counted in a metric, as is a
// field whose crop has no model. The RI / SI reference is the field's N-rich strip when it was
// scouted near the scene's date (observations `n_rich_<index>`), else the virtual 95th percentile.
// Zones are cut to the field's manifest boundary, and the recommendation's `coverage` says what of
// the field no zone covers. The model and crop profile are the field's choice in the manifest, else
// its crop's default and its variety's profile (chooseModel, shared with `hatake kit validate`); a
// choice the installed models cannot serve refuses the field with the reason validate gives.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HatakeError, isHatakeError, type ErrorCode } from '../protocol/errors.ts';
import type { Manifest } from '../protocol/manifest.ts';
import type { ModelCard } from '../protocol/model-card.ts';
import type { Note, Recommendation } from '../protocol/recommendation.ts';
import type { ZoneCollection } from '../protocol/imagery.ts';
import { ModelRegistry } from '../edge/inference/registry.ts';
import { modelRef } from '../protocol/model-card.ts';
import { InferencePool } from '../edge/inference/pool.ts';
import { recommend, type RecommendRequest } from '../edge/recommend/recommend.ts';
import { chooseIndex, type Observed } from '../edge/inference/inputs.ts';
import {
  DEFAULT_CROP_MODELS,
  chooseModel,
  installedModels,
  todayIn,
  type InstalledModels,
} from '../firmware-config/manifest-check.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../models/paths.ts';
import type { Logger } from '../runtime/log.ts';
import type { GatewayStore } from './store.ts';
import type { GatewayMetrics } from './metrics.ts';
import { pointerOf } from '../protocol/pointer.ts';

/**
 * Which model and crop profile serve a crop whose field names none (the field's variety may pick
 * another profile). A model is named by id alone: the highest version installed serves — the
 * shipped one, or a newer one the server sent down (verified before it was installed).
 */
export const CROP_MODELS = DEFAULT_CROP_MODELS;

const DAY = 86_400_000;
/** Winter wheat: a day counts for INSEY when its GDD is positive (mean above 4.4 °C, AGRONOMY.md). */
const WHEAT_GDD_BASE_C = 4.4;

/**
 * Days from planting to `now` (the image's acquisition) with GDD > 0. Days the weather station
 * covers count by their mean temperature; days it does not cover count as growing days, and the
 * source says so.
 */
export function daysGddPositive(
  plantingDate: string,
  now: number,
  dailyMeanC: ReadonlyMap<string, number>,
): { days: number; source: string } {
  const start = Date.parse(`${plantingDate}T00:00:00Z`);
  // Whole days: from the planting day up to, not including, the day of `now` (the image's day).
  const end = Math.floor(now / DAY) * DAY;
  let days = 0;
  let measured = 0;
  for (let t = start; t < end; t += DAY) {
    const mean = dailyMeanC.get(new Date(t).toISOString().slice(0, 10));
    if (mean === undefined) days++;
    else {
      measured++;
      if (mean > WHEAT_GDD_BASE_C) days++;
    }
  }
  const total = Math.max(0, Math.round((end - start) / DAY));
  return {
    days,
    source:
      measured === total
        ? `planting ${plantingDate}; daily mean air temperature from the field's weather station`
        : `planting ${plantingDate}; ${measured} of ${total} days from the weather station, the rest counted as growing days`,
  };
}

/** A field observation named `n_rich_<index>` is the N-rich strip's value of that index. */
export const N_RICH_PREFIX = 'n_rich_';

/**
 * How far (calendar days) the strip's scouting date may lie from the scene's acquisition date.
 * RI and SI compare the strip with the farmer practice at the same growth stage — OSU senses both
 * on the same day (AGRONOMY.md: RI = NDVI(strip) / NDVI(farmer practice)) — and in-season NDVI
 * climbs week by week as the canopy grows (wheat from Feekes 4 to 6 in a few weeks), so a reading
 * much older than a week compares two different canopies. Sentinel-2 passes every 5 days and a
 * cloudy pass is often lost, so ±7 days lets a scout's reading pair with the nearest clear scene.
 */
export const N_RICH_WINDOW_DAYS = 7;

/** When the zones' scene was acquired (ISO), if they say. */
const acquiredOf = (features: ZoneCollection['features']): string | undefined =>
  features.map((f) => f.properties.acquired).find((a) => a !== null && a !== undefined) ?? undefined;

const dayNumber = (date: string) => Math.round(Date.parse(`${date}T00:00:00Z`) / DAY);
const note = (code: string, ja: string, en: string): Note => ({ code, text: { ja, en } });

/** The N-rich strip the recommendation uses, or why it uses the virtual reference instead. */
export interface StripChoice {
  reference: NonNullable<RecommendRequest['reference']>;
  /** Why a scouted strip was not used (empty when it was, or when the field has none). */
  notes: Note[];
}

/**
 * The reference for a card with an `index_reference` input: the field's scouted N-rich strip
 * (observations `n_rich_<index>`) when it has the index the model reads and was measured within
 * N_RICH_WINDOW_DAYS of the scene's acquisition date, else the virtual 95th percentile, with a
 * note saying why a strip the field has was not used. A strip value outside the card's range for
 * the reference refuses the recommendation (HATAKE_E_MODEL_INPUT_RANGE): it is never used, and
 * never silently replaced by the virtual reference.
 */
export function chooseReference(
  card: ModelCard,
  field: Manifest['fields'][number],
  features: ZoneCollection['features'],
  timeZone: string,
): StripChoice {
  const virtual: StripChoice = { reference: { kind: 'virtual_p95' }, notes: [] };
  const refInput = card.inputs.find((i) => i.source.kind === 'index_reference');
  if (!refInput || refInput.source.kind !== 'index_reference') return virtual;
  const strips = Object.entries(field.observations ?? {})
    .filter(([name]) => name.startsWith(N_RICH_PREFIX))
    .map(([name, o]) => ({ name, index: name.slice(N_RICH_PREFIX.length), ...o }));
  if (strips.length === 0) return virtual;

  // The index the model reads, chosen as the input assembly chooses it; else the reference's first.
  const index =
    chooseIndex(
      card,
      features.map((f) => f.properties),
    ) ?? refInput.source.index[0]!;
  const listed = strips.map((s) => `${s.name} ${s.date}`).join(', ');
  const strip = strips.find((s) => s.index === index);
  if (!strip)
    return {
      ...virtual,
      notes: [
        note(
          'n_rich_strip_other_index',
          `Nリッチストリップの記録(${listed})はモデルが使う${index.toUpperCase()}ではないため、圃場の95パーセンタイルを基準にしました`,
          `The N-rich strip (${listed}) was not measured in ${index.toUpperCase()}, the index the model reads: the field’s 95th percentile was the reference`,
        ),
      ],
    };
  const acquired = acquiredOf(features);
  const acquiredAt = acquired ? Date.parse(acquired) : Number.NaN;
  if (!Number.isFinite(acquiredAt))
    return {
      ...virtual,
      notes: [
        note(
          'n_rich_strip_undated_scene',
          `画像の撮影日が不明なため、Nリッチストリップ(${strip.name} ${strip.date})と比べられません: 圃場の95パーセンタイルを基準にしました`,
          `The scene has no acquisition date to compare the N-rich strip (${strip.name} ${strip.date}) with: the field’s 95th percentile was the reference`,
        ),
      ],
    };
  const sceneDate = todayIn(timeZone, acquiredAt);
  const apart = Math.abs(dayNumber(strip.date) - dayNumber(sceneDate));
  if (apart > N_RICH_WINDOW_DAYS)
    return {
      ...virtual,
      notes: [
        note(
          'n_rich_strip_out_of_window',
          `Nリッチストリップ(${strip.name} ${strip.date})は撮影日 ${sceneDate} から${apart}日離れています(許容 ±${N_RICH_WINDOW_DAYS}日): 圃場の95パーセンタイルを基準にしました`,
          `The N-rich strip (${strip.name} ${strip.date}) is ${apart} days from the scene’s date ${sceneDate} (allowed ±${N_RICH_WINDOW_DAYS} days): the field’s 95th percentile was the reference`,
        ),
      ],
    };
  if (!Number.isFinite(strip.value) || strip.value < refInput.min || strip.value > refInput.max)
    throw new HatakeError(
      'HATAKE_E_MODEL_INPUT_RANGE',
      `field ${field.id}: the N-rich strip's ${index.toUpperCase()} ${strip.name} = ${String(strip.value).slice(0, 32)} (scouted ${strip.date}) is outside the valid range ${refInput.min}–${refInput.max} of ${modelRef(card)}'s ${refInput.name}`,
      {
        place: { pointer: pointerOf('fields', field.id, 'observations', strip.name) },
        expected: `${strip.name} between ${refInput.min} and ${refInput.max}`,
      },
    );
  return {
    reference: {
      kind: 'n_rich_strip',
      values: { [index]: strip.value },
      time: Date.parse(`${strip.date}T00:00:00Z`),
      source: `N-rich strip, scouted ${strip.date}${strip.note ? ` (${strip.note})` : ''}`,
    },
    notes: [],
  };
}

/** A device's latest reading of one metric, as GatewayStore.latest gives it (flags as JSON). */
export type LatestReading = ReturnType<GatewayStore['latest']>[number];

/** A recommendation the gateway did not make, and why. */
export interface Refusal {
  field: string;
  /**
   * The model asked (id@version when it was found, else the id — or id@version — the field names or
   * CROP_MODELS gives its crop; empty when the field's crop has no model).
   */
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
      const flags = JSON.parse(r.flags) as string[]; // the store writes a JSON array
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
  /** Started once, on the first recommendation (two scenes at once must not start two pools). */
  private pool: Promise<InferencePool> | undefined;
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

  private refuse(field: string, model: string, e: HatakeError, reason: string, now: number): void {
    this.forget(field);
    this.refused.unshift({ field, model, code: e.code, reason, time: now });
    this.refused.length = Math.min(this.refused.length, MAX_REFUSALS);
  }

  /**
   * Recommendations for every field of a processed scene whose crop has a model — the one its
   * manifest entry names, else its crop's default — with the profile it names, else its variety's
   * or its crop's (chooseModel); a field of the scene whose crop has none, or whose choice the
   * installed models cannot serve, is listed in `refused` (a field with no crop is not).
   * `dailyMeanC` gives the weather station's daily mean temperatures (YYYY-MM-DD → °C).
   */
  async forScene(
    farm: Manifest,
    gatewayId: string,
    zones: ZoneCollection,
    dailyMeanC: ReadonlyMap<string, number>,
    now = Date.now(),
  ): Promise<Recommendation[]> {
    const out: Recommendation[] = [];
    // Read once per scene: a model or profile may have arrived by downlink since the last.
    let reg: ModelRegistry | undefined;
    let installed: InstalledModels | undefined;
    for (const field of farm.fields) {
      const features = zones.features.filter((f) => f.properties.fieldId === field.id);
      if (!field.crop || features.length === 0) continue;
      reg ??= this.reg();
      installed ??= installedModels(reg);
      const choice = chooseModel(field, installed);
      if (choice.kind === 'none') {
        const e = new HatakeError('HATAKE_E_MODEL_NOT_FOUND', `no model for crop ${field.crop}`, {
          expected: `a crop with a model: ${Object.keys(CROP_MODELS).join(', ')}, or a field naming its model`,
        });
        this.refuse(field.id, '', e, e.describe(), now);
        this.opts.metrics?.recommendationsRefused.inc({ model: 'none', code: e.code });
        this.log.info({ field: field.id, crop: field.crop }, 'no model for this crop');
        continue;
      }
      if (choice.kind === 'refused') {
        // The manifest's choice (or the crop's default) is not one the installed models serve.
        const first = choice.problems[0]!;
        const e = new HatakeError(
          'HATAKE_E_MODEL_NOT_FOUND',
          `field ${field.id}: ${choice.problems.map((q) => q.message).join('; ')}`,
          {
            place: { pointer: `${pointerOf('fields', field.id)}${first.pointer}` },
            expected: first.expected,
          },
        );
        this.refuse(field.id, choice.model, e, e.describe(), now);
        this.opts.metrics?.recommendationsRefused.inc({
          model: choice.model.split('@')[0] || 'none',
          code: e.code,
        });
        this.log.warn(
          { field: field.id, model: choice.model, reason: e.message },
          'no recommendation for this field',
        );
        continue;
      }
      const { card, profile } = choice;
      const model = modelRef(card);
      let skipped: string[] = [];
      try {
        const entry = reg.entry(model);
        this.pool ??= InferencePool.start({ size: 1 }).catch((e: unknown) => {
          this.pool = undefined; // tried again with the next scene
          throw e;
        });
        const pool = await this.pool;
        await pool.load(reg.load(model));
        const fieldAttributes: RecommendRequest['fieldAttributes'] = {};
        // What was scouted in the field (plant height, stems …), each with the day it was measured.
        for (const [name, o] of Object.entries(field.observations ?? {})) {
          fieldAttributes[name] = {
            value: o.value,
            time: Date.parse(`${o.date}T00:00:00Z`),
            source: `field observation ${o.date}${o.note ? ` (${o.note})` : ''}`,
          };
        }
        // The crop's age when the image was taken (not when it was processed): INSEY divides the
        // image's index by it. An image from before planting shows no crop to fertilize.
        const acquired = acquiredOf(features);
        const at = acquired ? Date.parse(acquired) : now;
        if (field.plantingDate) {
          if (at < Date.parse(`${field.plantingDate}T00:00:00Z`))
            throw new HatakeError(
              'HATAKE_E_MODEL_INPUT_RANGE',
              `field ${field.id}: the image of ${acquired!.slice(0, 10)} was taken before planting (${field.plantingDate})`,
              { expected: `an image taken after ${field.plantingDate}` },
            );
          const g = daysGddPositive(field.plantingDate, at, dailyMeanC);
          fieldAttributes.days_gdd_positive = { value: g.days, time: at, source: g.source };
        }
        const s = sensorInputs(entry.card, farm, field.id, this.opts.latest ?? (() => []));
        skipped = s.skipped;
        const strip = chooseReference(entry.card, field, features, farm.farm.timezone ?? 'Asia/Tokyo');
        const rec = await recommend(pool, {
          farm: farm.farm.id,
          field: field.id,
          card: entry.card,
          profile,
          zones: { ...zones, features },
          // The manifest's boundary: zones cut to the field, and `coverage` names what of it the
          // scene left in no zone (cloud, shadow) so the prescriptions give it the default rate.
          ...(field.boundary ? { boundary: field.boundary } : {}),
          fieldAttributes,
          sensors: s.sensors,
          reference: strip.reference,
          now,
          by: `gateway ${gatewayId}`,
        });
        // Why the field's N-rich strip was not the reference, beside recommend()'s own note.
        rec.notes.push(...strip.notes);
        out.push(rec);
        this.forget(field.id);
      } catch (e) {
        if (!isHatakeError(e)) throw e;
        // Refused with its reason (a missing or out-of-range input, a model that fails to load…).
        const reason = `${e.describe()}${skipped.length ? `; not used: ${skipped.join('; ')}` : ''}`;
        this.refuse(field.id, model, e, reason, now);
        this.opts.metrics?.recommendationsRefused.inc({ model: card.id, code: e.code });
        this.log.warn({ field: field.id, model, reason }, 'no recommendation for this field');
      }
    }
    return out;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await (await pool?.catch(() => undefined))?.close();
  }
}
