// Relative times on the dashboard's cards (dashboard/ui/format.ts): a reading stamped a little after
// the page last read its clock — it arrived over the live stream, or the device's clock runs a
// few seconds ahead — reads 「今」 / "now", never 「10 秒後」 / "in 10 seconds"; one further ahead than
// clock skew explains keeps its future wording and counts as the device's clock running ahead.
// And a model input's unit as the officer reads it.
import { describe, expect, it } from 'vitest';
import {
  FUTURE_TOLERANCE_MS,
  fmtAgo,
  inputUnit,
  isClockAhead,
  timeTicks,
} from '../../dashboard/ui/format.ts';

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
