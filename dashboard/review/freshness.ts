// How fresh a recommendation's inputs were: every input (field-wide and per zone, de-duplicated)
// with its category, its age when the recommendation was made and now, and whether it was older
// than what that kind of data is good for. Pure.
import type { InputFreshness } from '../../protocol/review.ts';
import type { InputValue, Recommendation } from '../../protocol/recommendation.ts';

const HOUR = 3_600_000;

/** After how many hours an input of each category counts as stale when a recommendation is made. */
export const STALE_AFTER_HOURS = {
  /** Sentinel-2 revisits every 5 days; two missed passes (clouds) is as old as a scene should be. */
  imagery: 10 * 24,
  /** A field sensor reports every few minutes; a day-old value means it has gone quiet. */
  sensor: 24,
  /** Farm records (planting date, pre-plant N, plant height) hold for a season. */
  record: 180 * 24,
} as const;

function categoryOf(i: InputValue): InputFreshness['category'] {
  if (i.time === null) return 'constant';
  if (i.source.startsWith('index_stat')) return 'imagery';
  if (i.source.startsWith('sensor ')) return 'sensor';
  return 'record';
}

const hours = (ms: number) => Math.round((ms / HOUR) * 10) / 10;

/** Every input of a recommendation with its freshness. */
export function inputFreshness(rec: Recommendation, now: number): InputFreshness[] {
  const out = new Map<string, InputFreshness>();
  const add = (i: InputValue, zone: string | null) => {
    const key = JSON.stringify([i.name, i.source, i.time, zone === null ? null : i.value]);
    const seen = out.get(key);
    if (seen) {
      if (zone !== null && Array.isArray(seen.zones)) seen.zones.push(zone);
      return;
    }
    const category = categoryOf(i);
    const staleAfterHours = category === 'constant' ? null : STALE_AFTER_HOURS[category];
    const ageAtCreation = i.time === null ? null : hours(rec.createdAt - i.time);
    out.set(key, {
      name: i.name,
      value: i.value,
      unit: i.unit,
      source: i.source,
      category,
      zones: zone === null ? 'all' : [zone],
      time: i.time === null ? null : new Date(i.time).toISOString(),
      ageHoursAtCreation: ageAtCreation,
      ageHoursNow: i.time === null ? null : hours(now - i.time),
      staleAfterHours,
      stale: ageAtCreation !== null && staleAfterHours !== null && ageAtCreation > staleAfterHours,
    });
  };
  for (const i of rec.inputs) add(i, null);
  for (const z of rec.zones) for (const i of z.inputs) add(i, z.id);
  return [...out.values()];
}

/** The scene the recommendation read, and how old it was. */
export function imageryFreshness(rec: Recommendation): {
  sceneId: string | null;
  acquired: string | null;
  index: string | null;
  ageDaysAtCreation: number | null;
  stale: boolean;
} {
  const acq = rec.imagery.acquired;
  const ageDays = acq === null ? null : Math.round(((rec.createdAt - acq) / (24 * HOUR)) * 10) / 10;
  return {
    sceneId: rec.imagery.sceneId,
    acquired: acq === null ? null : new Date(acq).toISOString(),
    index: rec.imagery.index,
    ageDaysAtCreation: ageDays,
    stale: ageDays !== null && ageDays * 24 > STALE_AFTER_HOURS.imagery,
  };
}
