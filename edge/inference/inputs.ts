// Input assembly: turns the latest data of a field (zone index statistics, sensor readings, field
// and zone attributes, the crop profile) into the tensors a model's card asks for, checking every
// value against the card's valid range. A missing or out-of-range value refuses the whole
// recommendation with every reason listed — the model never extrapolates silently.
import { HatakeError, type ErrorCode } from '../../protocol/errors.ts';
import type { ModelCard, ModelInput } from '../../protocol/model-card.ts';
import type { CropProfile } from '../../protocol/crop-profile.ts';
import type { InputValue, ZoneIndexStats } from '../../protocol/recommendation.ts';
import { pointerOf } from '../../protocol/pointer.ts';

/** A value with where it came from and when it was observed (UTC epoch ms). */
export interface Observed {
  value: number | string;
  time: number | null;
  source: string;
}

/** One zone as the assembler reads it (normalised from zones.geojson). */
export interface ZoneData {
  id: string;
  zone: number;
  areaHa: number;
  validFraction: number;
  indices: Record<string, ZoneIndexStats>;
  attributes: Record<string, number | string>;
  /** Acquisition time of the zone's scene, UTC epoch ms. */
  acquired: number | null;
  sceneId: string | null;
}

/** The reference the RI / SI divides by: an N-rich strip or the field's virtual 95th percentile. */
export interface ReferenceData {
  kind: 'n_rich_strip' | 'virtual_p95';
  /** Reference value by index id. */
  values: Record<string, number>;
  how: string;
  time: number | null;
}

export interface AssemblyContext {
  zones: ZoneData[];
  profile: CropProfile;
  profileRef: string;
  field: Record<string, Observed>;
  sensors: Record<string, Observed>;
  reference?: ReferenceData;
  now: number;
}

/** A tensor as it crosses to a worker: plain typed array and dims. */
export interface Feed {
  type: 'float64' | 'float32';
  data: Float64Array | Float32Array;
  dims: number[];
}
export type Feeds = Record<string, Feed>;

export interface Assembled {
  /** The vegetation index the model read (the first its card prefers that every zone has). */
  index: string | null;
  /** Per-zone values by input name (n_rate inputs excluded). */
  columns: Map<string, Float64Array>;
  /** Table inputs (profile arrays) with their dims. */
  tables: Map<string, { data: Float64Array; dims: number[] }>;
  /** Inputs shared by every zone, for provenance. */
  shared: InputValue[];
  /** Inputs that differ per zone, for provenance. */
  perZone: InputValue[][];
}

interface Problem {
  code: ErrorCode;
  text: string;
  pointer: string;
}

const MAX_LISTED = 8;
const DAY_MS = 86_400_000;
const dayOf = (t: number) => Math.floor(t / DAY_MS);
const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);

function profileValue(profile: CropProfile, path: string): unknown {
  let v: unknown = profile;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * Chooses the index a model reads: the first in the card's preference list that every zone has
 * (null when the card reads no index statistic).
 */
export function chooseIndex(
  card: ModelCard,
  zones: readonly { indices: Readonly<Record<string, Readonly<Record<string, unknown>> | undefined>> }[],
): string | null {
  const src = card.inputs.find((i) => i.source.kind === 'index_stat')?.source;
  if (!src || src.kind !== 'index_stat') return null;
  for (const idx of src.index) {
    if (zones.every((z) => Number.isFinite(z.indices[idx]?.[src.stat] ?? NaN))) return idx;
  }
  return src.index[0]!;
}

/** Assembles and range-checks every input for every zone; throws one coded error listing the problems. */
export function assembleInputs(card: ModelCard, ctx: AssemblyContext): Assembled {
  const problems: Problem[] = [];
  const n = ctx.zones.length;
  const index = chooseIndex(card, ctx.zones);
  const columns = new Map<string, Float64Array>();
  const tables = new Map<string, { data: Float64Array; dims: number[] }>();
  const shared: InputValue[] = [];
  const perZone: InputValue[][] = ctx.zones.map(() => []);

  for (const z of ctx.zones) {
    if (z.validFraction < ctx.profile.limits.minValidFraction) {
      problems.push({
        code: 'HATAKE_E_MODEL_INPUT_RANGE',
        pointer: pointerOf('zones', z.id, 'validFraction'),
        text: `zone ${z.id}: only ${(z.validFraction * 100).toFixed(0)} % of its pixels were valid (profile ${ctx.profileRef} needs ${(ctx.profile.limits.minValidFraction * 100).toFixed(0)} %)`,
      });
    }
  }

  const check = (input: ModelInput, raw: number | string, where: string): number | undefined => {
    let v: number;
    if (input.levels) {
      const code = typeof raw === 'string' ? input.levels.indexOf(raw) : raw;
      if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code >= input.levels.length) {
        problems.push({
          code: 'HATAKE_E_MODEL_INPUT_RANGE',
          pointer: where,
          text: `${where}: "${String(raw).slice(0, 32)}" is not a level of ${input.name} (${input.levels.join(', ')})`,
        });
        return undefined;
      }
      v = code;
    } else {
      v = typeof raw === 'string' ? Number.NaN : raw;
    }
    if (!Number.isFinite(v) || v < input.min || v > input.max) {
      problems.push({
        code: 'HATAKE_E_MODEL_INPUT_RANGE',
        pointer: where,
        text: `${where}: ${input.name} = ${String(raw).slice(0, 32)} ${input.unit} is outside the valid range ${input.min}–${input.max}`,
      });
      return undefined;
    }
    return v;
  };
  const missing = (where: string, text: string) =>
    problems.push({ code: 'HATAKE_E_MODEL_INPUT_MISSING', pointer: where, text });
  /**
   * A dated measurement further from the image than the card's maxDaysFromImage: the crop it
   * describes is not the crop the image shows (e.g. panicle-initiation scouting beside a picture
   * taken after harvest). Listed as missing — the measurement for this image is — and true when so.
   */
  const farFromImage = (
    input: ModelInput,
    obs: Observed,
    acquired: number | null,
    where: string,
  ): boolean => {
    const s = input.source;
    const max = s.kind === 'field_attribute' || s.kind === 'zone_attribute' ? s.maxDaysFromImage : undefined;
    if (max === undefined || obs.time === null || acquired === null) return false;
    const days = Math.abs(dayOf(obs.time) - dayOf(acquired));
    if (days <= max) return false;
    const text =
      `${input.name}: measured on ${isoDay(obs.time)}, ${days} days from the image of ${isoDay(acquired)}; ` +
      `the model takes it only within ${max} days of the image (the crop at the stage the image shows)`;
    // (a field's measurement stands for every zone: said once)
    if (!problems.some((p) => p.text === text)) missing(where, text);
    return true;
  };

  for (const input of card.inputs) {
    const s = input.source;
    if (s.kind === 'n_rate') continue;
    if (input.shape !== 'zone') {
      // a table from the profile
      const where = `/profile/${s.kind === 'profile_constant' ? s.path : input.name}`;
      const raw = s.kind === 'profile_constant' ? profileValue(ctx.profile, s.path) : undefined;
      if (!Array.isArray(raw)) {
        missing(
          where,
          `${input.name}: profile ${ctx.profileRef} has no table at ${s.kind === 'profile_constant' ? s.path : '?'}`,
        );
        continue;
      }
      const rows = input.shape.length === 2 ? (raw as unknown[]) : [raw];
      const flat = rows.flat() as unknown[];
      const dims =
        input.shape.length === 2
          ? [rows.length, (rows[0] as unknown[] | undefined)?.length ?? 0]
          : [flat.length];
      if (input.shape.length === 2 && rows.some((r) => !Array.isArray(r) || r.length !== dims[1])) {
        problems.push({
          code: 'HATAKE_E_MODEL_INPUT_RANGE',
          pointer: where,
          text: `${input.name}: the table's rows differ in length`,
        });
        continue;
      }
      const data = new Float64Array(flat.length);
      let ok = true;
      flat.forEach((x, k) => {
        const v = check(input, typeof x === 'number' ? x : Number.NaN, `${where}/${k}`);
        if (v === undefined) ok = false;
        else data[k] = v;
      });
      if (ok) {
        tables.set(input.name, { data, dims });
        shared.push({
          name: input.name,
          value: JSON.stringify(raw).slice(0, 32),
          unit: input.unit,
          source: `profile ${ctx.profileRef} ${(s as { path: string }).path}`,
          time: null,
        });
      }
      continue;
    }
    const col = new Float64Array(n);
    columns.set(input.name, col);
    // values that are the same for every zone
    let one: Observed | undefined;
    let sharedWhere = '';
    if (s.kind === 'profile_constant') {
      sharedWhere = `/profile/${s.path}`;
      const raw = profileValue(ctx.profile, s.path);
      if (typeof raw === 'boolean')
        one = { value: raw ? 1 : 0, time: null, source: `profile ${ctx.profileRef} ${s.path}` };
      else if (typeof raw === 'number')
        one = { value: raw, time: null, source: `profile ${ctx.profileRef} ${s.path}` };
      else {
        missing(sharedWhere, `${input.name}: profile ${ctx.profileRef} has no value at ${s.path}`);
        continue;
      }
    } else if (s.kind === 'field_attribute') {
      sharedWhere = `/field/${s.name}`;
      one = ctx.field[s.name];
      if (!one) {
        missing(sharedWhere, `${input.name}: field attribute "${s.name}" was not given`);
        continue;
      }
      if (farFromImage(input, one, ctx.zones[0]?.acquired ?? null, sharedWhere)) continue;
    } else if (s.kind === 'sensor_metric') {
      sharedWhere = `/sensors/${s.metric}`;
      one = ctx.sensors[s.metric];
      if (!one) {
        missing(sharedWhere, `${input.name}: no ${s.metric} reading`);
        continue;
      }
      if (one.time === null || ctx.now - one.time > s.maxAgeHours * 3600_000) {
        missing(
          sharedWhere,
          `${input.name}: the latest ${s.metric} reading is older than ${s.maxAgeHours} h`,
        );
        continue;
      }
    } else if (s.kind === 'index_reference') {
      sharedWhere = `/reference/${index ?? s.index[0]}`;
      const idx = index ?? s.index[0]!;
      const v = ctx.reference?.values[idx];
      if (v === undefined || !ctx.reference) {
        missing(
          sharedWhere,
          `${input.name}: no ${idx.toUpperCase()} reference (N-rich strip or virtual 95th percentile)`,
        );
        continue;
      }
      one = {
        value: v,
        time: ctx.reference.time,
        source: `${ctx.reference.kind} ${idx}: ${ctx.reference.how}`,
      };
    }
    if (one) {
      const v = check(input, one.value, sharedWhere);
      if (v === undefined) continue;
      col.fill(v);
      shared.push({
        name: input.name,
        value: one.value,
        unit: input.unit,
        source: one.source,
        time: one.time,
      });
      continue;
    }
    // values per zone
    ctx.zones.forEach((z, k) => {
      const where = `/zones/${z.id}/${input.name}`;
      let obs: Observed | undefined;
      if (s.kind === 'index_stat') {
        const idx = index ?? s.index[0]!;
        const v = z.indices[idx]?.[s.stat];
        if (typeof v !== 'number') return missing(where, `zone ${z.id}: no ${idx}.${s.stat}`);
        obs = {
          value: v,
          time: z.acquired,
          source: `index_stat ${idx}.${s.stat}${z.sceneId ? ` scene ${z.sceneId}` : ''}`,
        };
      } else if (s.kind === 'zone_attribute') {
        const zv = z.attributes[s.name];
        const fv = ctx.field[s.name];
        if (zv !== undefined) obs = { value: zv, time: fv?.time ?? null, source: `zone attribute ${s.name}` };
        else if (fv) obs = fv;
        else if (s.default !== undefined)
          obs = { value: s.default, time: null, source: `card default for ${s.name}` };
        else return missing(where, `zone ${z.id}: attribute "${s.name}" was not given (zone or field)`);
        if (farFromImage(input, obs, z.acquired, where)) return;
      }
      if (!obs) return;
      const v = check(input, obs.value, where);
      if (v === undefined) return;
      col[k] = v;
      perZone[k]!.push({
        name: input.name,
        value: obs.value,
        unit: input.unit,
        source: obs.source,
        time: obs.time,
      });
    });
  }

  if (problems.length > 0) {
    const first = problems[0]!;
    const code = problems.some((p) => p.code === 'HATAKE_E_MODEL_INPUT_MISSING')
      ? 'HATAKE_E_MODEL_INPUT_MISSING'
      : first.code;
    const listed = problems.filter((p) => p.code === code);
    const more = listed.length > MAX_LISTED ? `; and ${listed.length - MAX_LISTED} more` : '';
    throw new HatakeError(
      code,
      `no recommendation from ${card.id}@${card.version}: ${listed
        .slice(0, MAX_LISTED)
        .map((p) => p.text)
        .join('; ')}${more}`,
      {
        place: { pointer: listed[0]!.pointer },
        expected:
          code === 'HATAKE_E_MODEL_INPUT_MISSING'
            ? 'every input the model card names'
            : 'values inside the card’s valid ranges',
      },
    );
  }
  return { index, columns, tables, shared, perZone };
}

/**
 * Builds the feeds for a batch: row r reads zone `zoneOf[r]`; an n_rate input reads `nRate[r]`.
 * Zone-shaped inputs become [rows, 1] tensors, tables keep their dims.
 */
export function feedsFor(card: ModelCard, a: Assembled, zoneOf: number[], nRate?: number[]): Feeds {
  const feeds: Feeds = {};
  const rows = zoneOf.length;
  for (const input of card.inputs) {
    if (input.shape !== 'zone') {
      const t = a.tables.get(input.name)!;
      feeds[input.name] = {
        type: input.type,
        data: input.type === 'float64' ? t.data.slice() : Float32Array.from(t.data),
        dims: t.dims,
      };
      continue;
    }
    const data = input.type === 'float64' ? new Float64Array(rows) : new Float32Array(rows);
    if (input.source.kind === 'n_rate') {
      if (!nRate) throw new HatakeError('HATAKE_E_INTERNAL', `${input.name}: no candidate N rates given`);
      for (let r = 0; r < rows; r++) data[r] = nRate[r]!;
    } else {
      const col = a.columns.get(input.name)!;
      for (let r = 0; r < rows; r++) data[r] = col[zoneOf[r]!]!;
    }
    feeds[input.name] = { type: input.type, data, dims: [rows, 1] };
  }
  return feeds;
}

/** Feeds from a plain JSON object of values (for `hatake model run` and the card's example). */
export function feedsFromValues(card: ModelCard, values: Record<string, unknown>): Feeds {
  const problems: string[] = [];
  let rows = 1;
  for (const i of card.inputs) {
    const v = values[i.name];
    if (i.shape === 'zone' && Array.isArray(v)) rows = Math.max(rows, v.length);
  }
  const feeds: Feeds = {};
  for (const input of card.inputs) {
    const v = values[input.name];
    if (v === undefined) {
      problems.push(`${input.name} is missing`);
      continue;
    }
    const codeOf = (x: unknown) => (input.levels && typeof x === 'string' ? input.levels.indexOf(x) : x);
    const flat = (Array.isArray(v) ? (v as unknown[]).flat() : [v]).map(codeOf);
    const bad = flat.find(
      (x) => typeof x !== 'number' || !Number.isFinite(x) || x < input.min || x > input.max,
    );
    if (bad !== undefined) {
      problems.push(
        `${input.name} = ${String(bad).slice(0, 32)} is outside ${input.min}–${input.max} ${input.unit}`,
      );
      continue;
    }
    const nums = flat as number[];
    let dims: number[];
    if (input.shape === 'zone') {
      if (nums.length !== 1 && nums.length !== rows) {
        problems.push(`${input.name} has ${nums.length} values, expected 1 or ${rows}`);
        continue;
      }
      dims = [rows, 1];
      if (nums.length === 1) nums.push(...new Array<number>(rows - 1).fill(nums[0]!));
    } else {
      const arr = v as unknown[];
      dims =
        input.shape.length === 2
          ? [arr.length, Array.isArray(arr[0]) ? (arr[0] as unknown[]).length : 0]
          : [nums.length];
      if (dims.reduce((p, d) => p * d, 1) !== nums.length) {
        problems.push(`${input.name} is not a ${input.shape.length}-d table`);
        continue;
      }
    }
    feeds[input.name] = {
      type: input.type,
      data: input.type === 'float64' ? Float64Array.from(nums) : Float32Array.from(nums),
      dims,
    };
  }
  const unknown = Object.keys(values).filter((k) => !card.inputs.some((i) => i.name === k));
  if (unknown.length) problems.push(`unknown input(s) ${unknown.join(', ').slice(0, 200)}`);
  if (problems.length) {
    const code = problems.some((p) => p.endsWith('is missing'))
      ? 'HATAKE_E_MODEL_INPUT_MISSING'
      : 'HATAKE_E_MODEL_INPUT_RANGE';
    throw new HatakeError(code, `${card.id}@${card.version}: ${problems.slice(0, MAX_LISTED).join('; ')}`, {
      expected: card.inputs
        .map((i) => `${i.name} (${i.min}–${i.max} ${i.unit})`)
        .join(', ')
        .slice(0, 500),
    });
  }
  return feeds;
}
