// Hourly weather for a field, for the disease rules: per UTC hour, the mean (and minimum) air
// temperature, mean relative humidity, mean leaf wetness, mean wind speed and the rain sum,
// each from the field's own station (or the farm's), one device per metric — the one with
// the most readings in the window. Hours are grouped into the farm's local days.
import { seriesOf, weatherDevices, type Prepared } from './context.ts';
import { HOUR_MS, localDay } from './local-time.ts';
import { hourlyBins, primarySeries, type HourBin } from './series.ts';

export const WEATHER_METRICS = [
  'air_temperature',
  'air_humidity',
  'leaf_wetness',
  'wind_speed',
  'rain',
] as const;
export type WeatherMetric = (typeof WEATHER_METRICS)[number];

export interface WeatherHour {
  /** UTC hour index (start = hour · 1 h). */
  hour: number;
  /** Local day number of the hour's start. */
  day: number;
  temp?: number;
  tmin?: number;
  rh?: number;
  wetness?: number;
  wind?: number;
  /** Rain in the hour, mm (the sum of per-reading amounts). */
  rain?: number;
}

export interface HourlyWeather {
  /** Sorted by hour. Only hours with at least one metric. */
  hours: WeatherHour[];
  /** The device each metric came from. */
  devices: Partial<Record<WeatherMetric, string>>;
}

/** Hourly weather of a field (or the farm) over [from, to). */
export function hourlyWeather(
  p: Prepared,
  field: string | undefined,
  from: number,
  to: number,
  metrics: readonly WeatherMetric[],
): HourlyWeather {
  const byHour = new Map<number, WeatherHour>();
  const devices: Partial<Record<WeatherMetric, string>> = {};
  const at = (b: HourBin): WeatherHour => {
    let h = byHour.get(b.hour);
    if (!h) byHour.set(b.hour, (h = { hour: b.hour, day: localDay(p.tz, b.hour * HOUR_MS) }));
    return h;
  };
  for (const metric of metrics) {
    const s = primarySeries(
      weatherDevices(p, field, metric).map((d) => seriesOf(p, d.id, metric)),
      from,
      to,
    );
    if (!s) continue;
    devices[metric] = s.device;
    for (const b of hourlyBins(s, from, to).values()) {
      const h = at(b);
      switch (metric) {
        case 'air_temperature':
          h.temp = b.mean;
          h.tmin = b.min;
          break;
        case 'air_humidity':
          h.rh = b.mean;
          break;
        case 'leaf_wetness':
          h.wetness = b.mean;
          break;
        case 'wind_speed':
          h.wind = b.mean;
          break;
        case 'rain':
          h.rain = b.sum;
          break;
      }
    }
  }
  return { hours: [...byHour.values()].sort((a, b) => a.hour - b.hour), devices };
}
