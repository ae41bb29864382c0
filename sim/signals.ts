// Plausible, time-varying values for the simulated kits: a diurnal cycle in Japan's time zone,
// a slow drying of the soil with an occasional irrigation, a paddy level that drifts and is
// topped up, and a little noise. Deterministic for a given seed and time, so tests can rely on it.

const HOUR = 3600_000;

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hourJst = (time: number) => ((time + 9 * HOUR) % (24 * HOUR)) / HOUR;

/** A day's warmth: 0 at 05:00 JST, rising to 1 at 14:00 JST, falling back through the night. */
export function warmth(time: number): number {
  const h = hourJst(time);
  if (h >= 5 && h < 14) return (1 - Math.cos((Math.PI * (h - 5)) / 9)) / 2;
  const sinceTwo = (h - 14 + 24) % 24; // 0…15 h
  return (1 + Math.cos((Math.PI * sinceTwo) / 15)) / 2;
}

/** The sun in late autumn in Niigata: up 06:30–16:30 JST, highest at 11:30; 0 at night. */
export function sunHeight(time: number): number {
  const h = hourJst(time);
  return h > 6.5 && h < 16.5 ? Math.sin((Math.PI * (h - 6.5)) / 10) : 0;
}

/** `v` to a multiple of `step`, without binary noise in the result (0.1 steps stay 0.1). */
export const round = (v: number, step: number) =>
  Number((Math.round(v / step) * step).toFixed(Math.max(0, -Math.floor(Math.log10(step)))));

export type Signal = (time: number) => Record<string, number>;

export function soilProbe(seed: number): Signal {
  const rnd = prng(seed);
  return (time) => {
    const cycle = (time % (6 * HOUR)) / (6 * HOUR); // dries over 6 h, then "irrigated"
    return {
      soil_vwc: round(0.34 - 0.12 * cycle + (rnd() - 0.5) * 0.004, 0.001),
      soil_temperature: round(8 + 4 * warmth(time - 2 * HOUR) + (rnd() - 0.5) * 0.2, 0.1),
      soil_ec: round(0.42 + 0.05 * (1 - cycle) + (rnd() - 0.5) * 0.01, 0.01),
      battery: round(3.9 - rnd() * 0.02, 0.01),
    };
  };
}

export function weatherStation(seed: number): Signal {
  const rnd = prng(seed);
  return (time) => {
    const w = warmth(time);
    const humidity = Math.min(100, 95 - 35 * w + (rnd() - 0.5) * 4);
    return {
      // Late November in Niigata: nights near freezing, mild afternoons.
      air_temperature: round(1.5 + 10 * w + (rnd() - 0.5) * 0.6, 0.1),
      air_humidity: round(humidity, 0.1),
      rain: rnd() < 0.05 ? round(rnd() * 1.2, 0.2) : 0,
      wind_speed: round(Math.max(0, 1.5 + 2 * w + (rnd() - 0.5) * 1.5), 0.1),
      solar_radiation:
        sunHeight(time) > 0 ? Math.round(Math.max(0, 520 * sunHeight(time) + (rnd() - 0.5) * 20)) : 0,
      leaf_wetness: Math.round(humidity > 88 ? 60 + rnd() * 40 : rnd() * 10),
      battery: round(12.6 + (rnd() - 0.5) * 0.1, 0.01),
    };
  };
}

export function paddyWater(seed: number): Signal {
  const rnd = prng(seed);
  return (time) => {
    const cycle = (time % (8 * HOUR)) / (8 * HOUR); // level drops over 8 h, then the inlet tops it up
    return {
      water_level: round(6 - 4 * cycle + (rnd() - 0.5) * 0.2, 0.1),
      water_temperature: round(7 + 6 * warmth(time - HOUR) + (rnd() - 0.5) * 0.2, 0.1),
      // This sensor's cell is running down: the demo's device-health tip.
      battery: round(3.32 - rnd() * 0.02, 0.01),
    };
  };
}

export const SIGNALS: Record<string, (seed: number) => Signal> = {
  'hatake-soil-probe': soilProbe,
  'hatake-weather-station': weatherStation,
  'hatake-paddy-water': paddyWater,
};
