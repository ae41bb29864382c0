// Relative times on the dashboard's cards (dashboard/ui/format.ts): a reading stamped a little after
// the page last read its clock — it arrived over the live stream, or the device's clock runs a
// few seconds ahead — reads 「今」 / "now", never 「10 秒後」 / "in 10 seconds"; one further ahead than
// clock skew explains keeps its future wording and counts as the device's clock running ahead.
// And a model input's unit as the officer reads it; a valve's state as 開 / 閉; when a device's
// data reads as old (3 of its kit's reporting intervals, the server's silent rule); and which of a
// field's metrics its chart opens on, for the kits the catalogue ships. Rates read the same in a
// zone table as on the map and in the audit (2.99 kg/10a, never 3); a kit's minutes read 分 in
// Japanese; a battery's charge is a whole percent and its voltage two decimals.
import { describe, expect, it } from 'vitest';
import {
  FUTURE_TOLERANCE_MS,
  STALE_DEFAULT_MS,
  STALE_INTERVALS,
  chartDefault,
  chartMetric,
  displayUnit,
  localUnit,
  fmtAgo,
  fmtRate,
  fmtValue,
  inputUnit,
  isClockAhead,
  kitMetricNames,
  metricName,
  rateParts,
  staleAfterMs,
  timeTicks,
  triggerParts,
} from '../../dashboard/ui/format.ts';
import { kitSummary } from '../../protocol/views.ts';
import { SILENT_INTERVALS } from '../../dashboard/views/overview.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { applyRate } from '../../edge/recommend/rates.ts';
import { PROFILES_DIR } from '../../models/paths.ts';

const NOW = Date.parse('2026-05-01T03:00:00.000Z');
const at = (ms: number) => new Date(NOW + ms).toISOString();

describe('fmtAgo', () => {
  it('reads a reading newer than the page’s clock as just now, up to the skew tolerance', () => {
    for (const ahead of [1, 400, 10_000, 14_999, 60_000, FUTURE_TOLERANCE_MS]) {
      expect(fmtAgo(at(ahead), 'ja', NOW), `${ahead} ms ahead`).toBe('今');
      expect(fmtAgo(at(ahead), 'en', NOW), `${ahead} ms ahead`).toBe('now');
      expect(fmtAgo(NOW + ahead, 'ja', NOW), `${ahead} ms ahead, as epoch ms`).toBe('今');
      expect(isClockAhead(at(ahead), NOW)).toBe(false);
    }
  });

  it('reads the past as before', () => {
    expect(fmtAgo(at(0), 'ja', NOW)).toBe('今');
    expect(fmtAgo(at(-10_000), 'ja', NOW)).toBe('10 秒前');
    expect(fmtAgo(at(-10_000), 'en', NOW)).toBe('10 seconds ago');
    expect(fmtAgo(at(-3 * 60_000), 'ja', NOW)).toBe('3 分前');
    expect(fmtAgo(at(-2 * 3_600_000), 'en', NOW)).toBe('2 hours ago');
    expect(fmtAgo(at(-86_400_000), 'ja', NOW)).toBe('昨日');
  });

  it('keeps the future wording beyond the tolerance: a device clock that is wrong stays recognisable', () => {
    const ahead = at(10 * 60_000);
    expect(fmtAgo(ahead, 'ja', NOW)).toBe('10 分後');
    expect(fmtAgo(ahead, 'en', NOW)).toBe('in 10 minutes');
    expect(isClockAhead(ahead, NOW)).toBe(true);
    expect(isClockAhead(at(FUTURE_TOLERANCE_MS + 1_000), NOW)).toBe(true);
    expect(fmtAgo(at(FUTURE_TOLERANCE_MS + 1_000), 'ja', NOW)).toBe('2 分後');
  });

  it('shows a missing or unreadable time as a dash, and never calls it clock skew', () => {
    for (const v of [null, undefined, 'not a time']) {
      expect(fmtAgo(v, 'ja', NOW)).toBe('—');
      expect(isClockAhead(v, NOW)).toBe(false);
    }
  });
});

describe('inputUnit', () => {
  it('hides a dimensionless "1", writes days and square metres as people read them, keeps the rest', () => {
    expect(inputUnit('1', 'ja')).toBe('');
    expect(inputUnit('1', 'en')).toBe('');
    expect(inputUnit('d', 'ja')).toBe('日');
    expect(inputUnit('d', 'en')).toBe('d');
    expect(inputUnit('1/m2', 'ja')).toBe('1/m²');
    expect(inputUnit('cm/m2', 'en')).toBe('cm/m²');
    expect(inputUnit('kg/ha', 'ja')).toBe('kg/ha');
    expect(inputUnit('kg N/10a', 'en')).toBe('kg N/10a');
    expect(inputUnit('SPAD', 'ja')).toBe('SPAD');
  });
});

describe('timeTicks (a chart’s time axis)', () => {
  const HOUR = 3_600_000;
  const t0 = Date.UTC(2026, 11, 1, 9, 0); // 18:00 on 1 December in Tokyo, 09:00 UTC
  it('labels hours in the farm’s zone and the reader’s language, and the date at midnight', () => {
    const ja = timeTicks('ja', 'Asia/Tokyo', 24 * HOUR);
    expect([ja(t0), ja(t0 + 6 * HOUR), ja(t0 + 12 * HOUR)]).toEqual(['18時', '12/2', '6時']);
    const en = timeTicks('en', 'Asia/Tokyo', 24 * HOUR);
    expect([en(t0), en(t0 + 6 * HOUR), en(t0 + 12 * HOUR)]).toEqual(['18:00', '2 Dec', '06:00']);
    // The same instant on a farm in another zone reads its own hour; its midnight is its own.
    expect(timeTicks('en', 'UTC', 24 * HOUR)(t0)).toBe('09:00');
    expect(timeTicks('en', 'UTC', 24 * HOUR)(t0 + 15 * HOUR)).toBe('2 Dec');
  });

  it('labels days for a week or a season', () => {
    expect(timeTicks('ja', 'Asia/Tokyo', 7 * 24 * HOUR)(t0)).toBe('12/1');
    expect(timeTicks('en', 'Asia/Tokyo', 120 * 24 * HOUR)(t0 + 24 * HOUR)).toBe('2 Dec');
  });
});

describe('metricName (what a tile, a chart and an automation call a metric)', () => {
  const kits = [...loadCatalogue().kits.values()].map(kitSummary);
  const gate = kitMetricNames(kits, 'hatake-water-gate');

  it('names the registry’s metrics in each language, whatever the kit', () => {
    expect(metricName('soil_vwc', 'ja')).toBe('土壌水分');
    expect(metricName('soil_vwc', 'en', gate)).toBe('Soil moisture');
  });

  it('names a kit’s own metric as its kit file does, and keeps the id of one no kit names', () => {
    expect(metricName('open_minutes_left', 'ja', gate)).toBe('開放の残り時間');
    expect(metricName('open_minutes_left', 'en', gate)).toBe('Minutes of opening left');
    // Without the device's kit (the catalogue did not load, an unknown kit) it is its id.
    expect(metricName('open_minutes_left', 'ja')).toBe('open_minutes_left');
    expect(metricName('open_minutes_left', 'ja', kitMetricNames(kits, 'no-such-kit'))).toBe(
      'open_minutes_left',
    );
    expect(metricName('open_minutes_left', 'ja', kitMetricNames(kits, null))).toBe('open_minutes_left');
    // Another kit's name for its own metric is not borrowed.
    expect(metricName('soil_raw', 'ja', gate)).toBe('soil_raw');
    expect(metricName('soil_raw', 'en', kitMetricNames(kits, 'hatake-soil-probe'))).not.toBe('soil_raw');
  });

  it('names every metric outside the registry that a shipped kit reports', () => {
    for (const k of kits)
      for (const m of k.metricDetails) {
        const names = kitMetricNames(kits, k.id);
        for (const lang of ['ja', 'en'] as const)
          expect(metricName(m.id, lang, names), `${k.id}/${m.id} (${lang})`).not.toBe(m.id);
      }
  });

  it('puts the kit’s name in an automation’s trigger', () => {
    const p = triggerParts(
      { kind: 'threshold', device: 'gate-1', metric: 'open_minutes_left', op: '<', value: 10 },
      'ja',
      gate,
    );
    expect(p).toMatchObject({ metric: '開放の残り時間', value: '10' });
  });
});

describe('fmtValue for a valve', () => {
  it('reads a valve’s state as open or closed, as the gateway’s page does, with no unit', () => {
    expect(fmtValue('valve_state', 1, '1', 'ja')).toEqual({ value: '開', unit: '' });
    expect(fmtValue('valve_state', 0, '1', 'ja')).toEqual({ value: '閉', unit: '' });
    expect(fmtValue('valve_state', 1, '1', 'en')).toEqual({ value: 'open', unit: '' });
    expect(fmtValue('valve_state', 0, '1', 'en')).toEqual({ value: 'closed', unit: '' });
    // A value that is neither is shown as the number it is, not guessed.
    expect(fmtValue('valve_state', 0.5, '1', 'ja').value).toBe('0.5');
  });
});

describe('staleAfterMs (when a device’s data reads as old)', () => {
  it('is the server’s rule for a silent device: 3 of the kit’s reporting intervals', () => {
    expect(STALE_INTERVALS).toBe(SILENT_INTERVALS);
    expect(staleAfterMs(300)).toBe(15 * 60_000);
    expect(staleAfterMs(60)).toBe(3 * 60_000);
    expect(staleAfterMs(3600)).toBe(3 * 3_600_000);
  });

  it('is 15 minutes when the interval is not known', () => {
    for (const v of [null, undefined, 0, -5, Number.NaN])
      expect(staleAfterMs(v), String(v)).toBe(STALE_DEFAULT_MS);
    expect(STALE_DEFAULT_MS).toBe(15 * 60_000);
  });
});

describe('chartMetric / chartDefault (what a field’s chart opens on)', () => {
  const kits = loadCatalogue().kits;
  const metricsOf = (kit: string) => Object.keys(kits.get(kit)!.metrics);

  it('opens each kit the catalogue ships on its most telling metric, never on its battery', () => {
    expect(chartMetric(metricsOf('hatake-paddy-water'))).toBe('water_level');
    expect(chartMetric(metricsOf('hatake-soil-probe'))).toBe('soil_vwc');
    expect(chartMetric(metricsOf('hatake-weather-station'))).toBe('air_temperature');
    expect(chartMetric(metricsOf('hatake-water-gate'))).toBe('water_level');
    for (const [id, kit] of kits) {
      const metrics = Object.keys(kit.metrics);
      const m = chartMetric(metrics);
      expect(metrics, id).toContain(m);
      if (metrics.some((x) => !['battery', 'battery_level', 'rssi', 'snr', 'valve_state'].includes(x)))
        expect(['battery', 'battery_level', 'rssi', 'snr', 'valve_state'], id).not.toContain(m);
    }
  });

  it('keeps a device’s own health for when it measures nothing else, and says nothing for no metric', () => {
    expect(chartMetric(['battery', 'valve_state'])).toBe('valve_state');
    expect(chartMetric(['rssi', 'battery'])).toBe('battery');
    expect(chartMetric(['battery', 'open_minutes_left'])).toBe('open_minutes_left');
    expect(chartMetric([])).toBe('');
  });

  it('picks the field’s device by the metric, not by the order of the devices', () => {
    const station = { id: 'wx-1', metrics: metricsOf('hatake-weather-station') };
    const soil = { id: 'soil-1', metrics: metricsOf('hatake-soil-probe') };
    const silent = { id: 'new-1', metrics: [] };
    expect(chartDefault([station, soil])).toEqual({ device: 'soil-1', metric: 'soil_vwc' });
    expect(chartDefault([silent, soil, station])).toEqual({ device: 'soil-1', metric: 'soil_vwc' });
    expect(chartDefault([silent, station])).toEqual({ device: 'wx-1', metric: 'air_temperature' });
    expect(chartDefault([silent])).toEqual({ device: '', metric: '' });
  });
});

describe('rates (rateParts, fmtRate): the same figure in a table as on the map and in the audit', () => {
  /** A rate's number back from its text ("2.99 kg/10a" → 2.99). */
  const num = (text: string) => Number(text.replace(/ kg\/(10a|ha)$/, '').replace(/,/g, ''));

  it('writes a rate on a urea spreader step as it is: 29.9 kg N/ha is 2.99 kg/10a, not 3', () => {
    expect(rateParts(29.9, 'ja')).toEqual(['2.99 kg/10a', '29.9 kg/ha']);
    expect(rateParts(29.9, 'en')).toEqual(['29.9 kg/ha', '2.99 kg/10a']);
    expect(rateParts(39.1, 'ja')).toEqual(['3.91 kg/10a', '39.1 kg/ha']);
    // Ammonium sulfate on a 5 kg step: 19.95 kg N/ha, as the decisions CSV writes it (1.995).
    expect(rateParts(19.95, 'ja')).toEqual(['1.995 kg/10a', '19.95 kg/ha']);
    expect(rateParts(140, 'ja')).toEqual(['14 kg/10a', '140 kg/ha']);
    // The officer's map and audit write at least one decimal: the same number.
    expect(fmtRate(29.9, 'kg/10a', 'ja', 1)).toBe('2.99');
    expect(fmtRate(30, 'kg/10a', 'ja', 1)).toBe('3.0');
    expect(fmtRate(19.95, 'kg/ha', 'en', 1)).toBe('19.95');
  });

  it('loses nothing of any rate a shipped crop profile’s spreader step can set, in either unit', () => {
    const reg = new ModelRegistry({ modelDirs: [], profileDirs: [PROFILES_DIR] });
    const profiles = [
      'rice-koshihikari',
      'rice-shinnosuke-niigata',
      'winter-wheat-osu-2007',
      'corn-osu-2004',
    ];
    let checked = 0;
    for (const id of profiles) {
      const p = reg.profile(id);
      for (let model = p.limits.minKgNHa; model <= p.limits.maxKgNHa; model += 0.7) {
        const { kgNHa, productKgHa } = applyRate(model, p);
        for (const kg of [kgNHa, productKgHa])
          for (const lang of ['ja', 'en'] as const) {
            const [a, b] = rateParts(kg, lang);
            const [per10a, perHa] = lang === 'ja' ? [a, b] : [b, a];
            expect(num(per10a) * 10, `${id}: ${kg} kg/ha as ${per10a}`).toBeCloseTo(kg, 6);
            expect(num(perHa), `${id}: ${kg} kg/ha as ${perHa}`).toBeCloseTo(kg, 6);
            checked++;
          }
      }
    }
    expect(checked).toBeGreaterThan(200);
  });
});

describe('units of time and batteries (displayUnit, fmtValue)', () => {
  const kits = loadCatalogue().kits;

  it('writes a kit’s minutes as 分 in Japanese and min in English', () => {
    expect(displayUnit('open_minutes_left', 'min', 'ja')).toEqual({ unit: '分', factor: 1 });
    expect(displayUnit('open_minutes_left', 'min', 'en')).toEqual({ unit: 'min', factor: 1 });
    expect(fmtValue('open_minutes_left', 12, 'min', 'ja')).toEqual({ value: '12', unit: '分' });
    expect(fmtValue('open_minutes_left', 12, 'min', 'en')).toEqual({ value: '12', unit: 'min' });
    // Every metric of a shipped kit counted in minutes reads 分 on a Japanese page.
    const minutes = [...kits.values()].flatMap((k) =>
      Object.entries(k.metrics).flatMap(([id, m]) => (m.unit === 'min' ? [id] : [])),
    );
    expect(minutes).toContain('open_minutes_left');
    for (const id of minutes) expect(fmtValue(id, 5, 'min', 'ja').unit, id).toBe('分');
    // A command parameter's unit (the automation form's 開く時間 (分)) reads the same way.
    expect(localUnit('min', 'ja')).toBe('分');
    expect(localUnit('s', 'ja')).toBe('秒');
    expect(localUnit('min', 'en')).toBe('min');
    expect(localUnit('cm', 'ja')).toBe('cm');
    expect(localUnit('constructor', 'ja')).toBe('constructor');
  });

  it('writes a battery’s charge as a whole percent and its voltage with two decimals, as the kits report them', () => {
    // What the catalogue's kits report: battery in V to 0.01 V or finer, battery_level in % by 1 %.
    const battery = [...kits.values()].flatMap((k) =>
      Object.entries(k.metrics).filter(([id]) => id === 'battery' || id === 'battery_level'),
    );
    expect(battery.length).toBeGreaterThan(3);
    for (const [id, m] of battery) {
      expect(m.unit, id).toBe(id === 'battery' ? 'V' : '%');
      if (id === 'battery') expect(m.resolution ?? 0.01, id).toBeLessThanOrEqual(0.01);
      else expect(m.resolution, id).toBe(1);
    }
    expect(fmtValue('battery', 3.62, 'V', 'ja')).toEqual({ value: '3.62', unit: 'V' });
    expect(fmtValue('battery', 3.6, 'V', 'en')).toEqual({ value: '3.60', unit: 'V' });
    expect(fmtValue('battery', 12.3, 'V', 'en')).toEqual({ value: '12.30', unit: 'V' });
    expect(fmtValue('battery_level', 87.4, '%', 'ja')).toEqual({ value: '87', unit: '%' });
    expect(fmtValue('battery_level', 100, '%', 'en')).toEqual({ value: '100', unit: '%' });
    // Soil moisture keeps its tenth of a percent.
    expect(fmtValue('soil_vwc', 0.2345, 'm3/m3', 'ja')).toEqual({ value: '23.5', unit: '%' });
  });
});
