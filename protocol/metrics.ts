// The metric vocabulary: every quantity hatake stores, its storage unit (SI or SI-prefixed, as
// farmers' instruments report it) and the physically possible range. A kit narrows the range to
// what its sensor can measure; a value outside the physical range is refused, never stored.
// Kits may define further metrics of their own (with their own unit and range); a kit that uses
// a name from this list must use its unit. A `summed` metric is an amount per reading (rain: the
// mm fallen since the kit's previous reading), so an hour's or a day's worth is the sum of its
// readings, not their mean.

export interface MetricDef {
  /** Storage unit. */
  unit: string;
  /** Physically possible bounds (inclusive). */
  min: number;
  max: number;
  ja: string;
  en: string;
  /** Each reading is the amount since the previous one (rain in mm): totals are sums. */
  summed?: true;
}

export const METRICS = {
  soil_vwc: { unit: 'm3/m3', min: 0, max: 1, ja: '土壌水分', en: 'Soil moisture' },
  soil_temperature: { unit: 'degC', min: -40, max: 80, ja: '地温', en: 'Soil temperature' },
  soil_ec: { unit: 'dS/m', min: 0, max: 50, ja: '土壌EC', en: 'Soil EC' },
  air_temperature: { unit: 'degC', min: -60, max: 60, ja: '気温', en: 'Air temperature' },
  air_humidity: { unit: '%', min: 0, max: 100, ja: '湿度', en: 'Relative humidity' },
  rain: { unit: 'mm', min: 0, max: 500, ja: '降水量', en: 'Rain', summed: true },
  wind_speed: { unit: 'm/s', min: 0, max: 90, ja: '風速', en: 'Wind speed' },
  solar_radiation: { unit: 'W/m2', min: 0, max: 1500, ja: '日射量', en: 'Solar radiation' },
  leaf_wetness: { unit: '%', min: 0, max: 100, ja: '葉面濡れ', en: 'Leaf wetness' },
  water_level: { unit: 'cm', min: -50, max: 100, ja: '水位', en: 'Water level' },
  water_temperature: { unit: 'degC', min: -5, max: 50, ja: '水温', en: 'Water temperature' },
  battery: { unit: 'V', min: 0, max: 60, ja: '電池電圧', en: 'Battery' },
  rssi: { unit: 'dBm', min: -200, max: 20, ja: '電波強度', en: 'RSSI' },
  snr: { unit: 'dB', min: -40, max: 40, ja: 'SN比', en: 'SNR' },
  valve_state: { unit: '1', min: 0, max: 1, ja: '弁の状態', en: 'Valve state' },
  air_pressure: { unit: 'kPa', min: 30, max: 110, ja: '気圧', en: 'Air pressure' },
  vapor_pressure: { unit: 'kPa', min: 0, max: 20, ja: '水蒸気圧', en: 'Vapour pressure' },
  wind_direction: { unit: 'deg', min: 0, max: 360, ja: '風向', en: 'Wind direction' },
  wind_gust: { unit: 'm/s', min: 0, max: 120, ja: '最大瞬間風速', en: 'Wind gust' },
  soil_permittivity: { unit: '1', min: 1, max: 100, ja: '土壌誘電率', en: 'Soil permittivity' },
  battery_level: { unit: '%', min: 0, max: 100, ja: '電池残量', en: 'Battery level' },
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;

export function isMetricName(name: string): name is MetricName {
  return Object.hasOwn(METRICS, name);
}

/** Whether a metric's readings are amounts to add up over a period (rain), not levels to average. */
export function isSummed(name: string): boolean {
  return isMetricName(name) && (METRICS[name] as MetricDef).summed === true;
}
