// Device health: battery low by kit thresholds, offline after N silent intervals, stuck sensors —
// each at, just above and just below its threshold.
import { describe, expect, it } from 'vitest';
import { BATTERY_DEFAULTS, batteryLowRule, batteryVerdict } from '../../../edge/rules/battery-low.ts';
import { deviceOfflineRule } from '../../../edge/rules/device-offline.ts';
import { sensorStuckRule, unchangedRun } from '../../../edge/rules/sensor-stuck.ts';
import { emptyTipState, stepTips } from '../../../edge/rules/lifecycle.ts';
import type { Reading } from '../../../protocol/telemetry.ts';
import { HOUR, MIN, context, device, jst, series, tipsOf } from './fixtures.ts';

const NOW = jst('2026-08-01T12:00');

const volts = (values: number[], dev = 'soil-1'): Reading[] =>
  values.map((value, i) => ({
    device: dev,
    metric: 'battery',
    value,
    unit: 'V',
    time: NOW - (values.length - 1 - i) * 10 * MIN,
    flags: [],
  }));

describe('battery low', () => {
  const ctx = (readings: Reading[], devices = [device('soil-1', 'hatake-soil-probe', 'up-1')]) =>
    context({ now: NOW, devices, readings });

  it.each([
    [3.51, undefined],
    [3.5, 'warning'],
    [3.49, 'warning'],
    [3.31, 'warning'],
    [3.3, 'severe'],
    [3.29, 'severe'],
  ])('a Li-ion probe at %s V → %s', (v, severity) => {
    const tips = tipsOf(batteryLowRule.evaluate(ctx(volts([v, v, v]))), NOW);
    expect(tips.map((t) => t.severity)).toEqual(severity ? [severity] : []);
  });

  it('uses the kit of the device: 12 V lead-acid thresholds for the weather station', () => {
    const wx = [device('wx-1', 'hatake-weather-station')];
    expect(tipsOf(batteryLowRule.evaluate(ctx(volts([11.9, 11.9, 11.9], 'wx-1'), wx)), NOW)).toHaveLength(1);
    expect(tipsOf(batteryLowRule.evaluate(ctx(volts([12.0, 12.0, 12.0], 'wx-1'), wx)), NOW)).toHaveLength(0);
  });

  it('takes the median of the last readings, so one sag under load is ignored', () => {
    expect(tipsOf(batteryLowRule.evaluate(ctx(volts([3.3, 3.9, 3.2, 3.9]))), NOW)).toHaveLength(0);
    const [tip] = tipsOf(batteryLowRule.evaluate(ctx(volts([3.9, 3.4, 3.45, 3.9]))), NOW);
    expect(tip!.title.ja).toBe('電池残量低下：soil-1（3.45 V）');
    expect(tip!.action).toEqual({
      type: 'device_maintenance',
      device: 'soil-1',
      task: 'replace_battery',
      metric: 'battery',
    });
    expect(tip!.field).toBe('up-1');
  });

  it('clears only 0.1 V above the low mark', () => {
    const s1 = stepTips(
      emptyTipState(),
      batteryLowRule.evaluate(ctx(volts([3.5, 3.5, 3.5]))).assessments,
      NOW,
    );
    const s2 = stepTips(
      s1.state,
      batteryLowRule.evaluate(ctx(volts([3.6, 3.6, 3.6]))).assessments,
      NOW + MIN,
    );
    expect([s2.raised.length, s2.cleared.length]).toEqual([0, 0]);
    const s3 = stepTips(
      s2.state,
      batteryLowRule.evaluate(ctx(volts([3.61, 3.61, 3.61]))).assessments,
      NOW + 2 * MIN,
    );
    expect(s3.cleared).toHaveLength(1);
  });

  it('notes kits without thresholds and batteries not heard for a day', () => {
    const gate = batteryLowRule.evaluate(
      ctx(volts([5, 5, 5], 'gate-1'), [device('gate-1', 'hatake-water-gate')]),
    );
    expect(gate.notes.map((n) => n.code)).toEqual(['missing_parameter']);
    const old = volts([3.0]).map((r) => ({ ...r, time: NOW - 25 * HOUR }));
    expect(batteryLowRule.evaluate(ctx(old)).notes.map((n) => n.code)).toEqual(['stale_data']);
    expect(() =>
      batteryLowRule.evaluate(ctx([]), { ...BATTERY_DEFAULTS, kits: { x: { lowV: 3, criticalV: 3.5 } } }),
    ).toThrow(expect.objectContaining({ code: 'HATAKE_E_RULE_PARAMS' }));
  });

  it('gives the partner’s device table the verdict the tip is raised by (batteryVerdict)', () => {
    const pts = (values: number[]) => volts(values).map(({ time, value }) => ({ time, value }));
    // The median of the last three: one sag is not low, two are.
    expect(batteryVerdict('hatake-soil-probe', pts([3.8, 3.8, 3.2]), NOW)?.state).toBe('ok');
    expect(batteryVerdict('hatake-soil-probe', pts([3.8, 3.45, 3.45]), NOW)).toMatchObject({
      state: 'low',
      volts: 3.45,
      lowV: 3.5,
      criticalV: 3.3,
    });
    expect(batteryVerdict('hatake-soil-probe', pts([3.9, 3.3, 3.2, 3.3]), NOW)?.state).toBe('critical');
    expect(batteryVerdict('hatake-weather-station', pts([11.8, 11.8, 11.8]), NOW)?.state).toBe('low');
    // No marks for the kit, no kit, nothing in the last day: no verdict.
    expect(batteryVerdict('hatake-water-gate', pts([1, 1, 1]), NOW)).toBeUndefined();
    expect(batteryVerdict(null, pts([1, 1, 1]), NOW)).toBeUndefined();
    expect(batteryVerdict('constructor', pts([1, 1, 1]), NOW)).toBeUndefined();
    expect(batteryVerdict('hatake-soil-probe', [{ time: NOW - 25 * HOUR, value: 3 }], NOW)).toBeUndefined();
    // The tip agrees at every voltage the table is shown.
    for (const v of [3.6, 3.5, 3.4, 3.3, 3.1]) {
      const tip = tipsOf(batteryLowRule.evaluate(ctx(volts([v, v, v]))), NOW)[0];
      const state = batteryVerdict('hatake-soil-probe', pts([v, v, v]), NOW)!.state;
      expect(state, `${v} V`).toBe(!tip ? 'ok' : tip.severity === 'severe' ? 'critical' : 'low');
    }
  });
});

describe('device offline', () => {
  const lastAt = (t: number, dev = 'soil-1'): Reading[] => [
    { device: dev, metric: 'soil_vwc', value: 0.3, unit: 'm3/m3', time: t, flags: [] },
  ];
  const ctx = (readings: Reading[], over = {}) =>
    context({ now: NOW, devices: [device('soil-1', 'hatake-soil-probe', 'up-1')], readings, ...over });

  it('is offline only when silent for more than max(3 intervals, 10 min)', () => {
    // The probe reports every 60 s: 3 intervals are 3 min, so the 10-minute floor rules.
    expect(tipsOf(deviceOfflineRule.evaluate(ctx(lastAt(NOW - 10 * MIN))), NOW)).toHaveLength(0);
    expect(tipsOf(deviceOfflineRule.evaluate(ctx(lastAt(NOW - 10 * MIN - 1000))), NOW)).toHaveLength(1);
    expect(tipsOf(deviceOfflineRule.evaluate(ctx(lastAt(NOW - 9 * MIN))), NOW)).toHaveLength(0);
  });

  it('counts intervals of the kit: a gate reporting every 5 min is offline after 15 min', () => {
    const gate = { devices: [device('gate-1', 'hatake-water-gate')] };
    expect(tipsOf(deviceOfflineRule.evaluate(ctx(lastAt(NOW - 15 * MIN, 'gate-1'), gate)), NOW)).toHaveLength(
      0,
    );
    const [tip] = tipsOf(deviceOfflineRule.evaluate(ctx(lastAt(NOW - 16 * MIN, 'gate-1'), gate)), NOW);
    expect(tip!.title.en).toBe('Offline: gate-1 (silent for 16 min)');
    expect(tip!.text.ja).toContain('最終受信 8/1 11:44');
  });

  it("takes the gateway's last-seen time when it is newer, and is severe after a day", () => {
    expect(
      tipsOf(
        deviceOfflineRule.evaluate(ctx(lastAt(NOW - 2 * HOUR), { lastSeen: { 'soil-1': NOW - MIN } })),
        NOW,
      ),
    ).toHaveLength(0);
    const [tip] = tipsOf(deviceOfflineRule.evaluate(ctx(lastAt(NOW - 25 * HOUR))), NOW);
    expect(tip!.severity).toBe('severe');
    expect(tip!.title.ja).toBe('通信途絶：soil-1（25.0時間受信なし）');
  });

  it('notes a device never heard from and clears when it is heard again', () => {
    expect(deviceOfflineRule.evaluate(ctx([])).notes.map((n) => n.code)).toEqual(['no_data']);
    const s1 = stepTips(
      emptyTipState(),
      deviceOfflineRule.evaluate(ctx(lastAt(NOW - HOUR))).assessments,
      NOW,
    );
    const s2 = stepTips(
      s1.state,
      deviceOfflineRule.evaluate(ctx([...lastAt(NOW - HOUR), ...lastAt(NOW)])).assessments,
      NOW,
    );
    expect([s1.raised.length, s2.cleared.length]).toEqual([1, 1]);
  });
});

describe('stuck sensor', () => {
  const wx = (readings: Reading[]) =>
    context({ now: NOW, devices: [device('wx-1', 'hatake-weather-station')], readings });

  it('finds the unchanged run at the end of a series', () => {
    expect(unchangedRun([1, 2, 3, 4], [5, 7, 7.04, 7], 0.05)).toEqual({ from: 2, to: 4, count: 3, value: 7 });
    expect(unchangedRun([], [], 0)).toBeUndefined();
  });

  it('flags air temperature unchanged for 6 h and not for 5 h 50 min', () => {
    const stuck = (hours: number) =>
      series('wx-1', 'air_temperature', NOW - hours * HOUR, NOW, 10 * MIN, () => 12.3).concat(
        series(
          'wx-1',
          'air_temperature',
          NOW - hours * HOUR - HOUR,
          NOW - hours * HOUR - 10 * MIN,
          10 * MIN,
          () => 15,
        ),
      );
    const [tip] = tipsOf(sensorStuckRule.evaluate(wx(stuck(6))), NOW);
    expect(tip!.title.ja).toBe('センサー値が変化しません：wx-1の気温');
    expect(tip!.action).toEqual({
      type: 'device_maintenance',
      device: 'wx-1',
      task: 'check_sensor',
      metric: 'air_temperature',
    });
    expect(tipsOf(sensorStuckRule.evaluate(wx(stuck(6 - 1 / 6))), NOW)).toHaveLength(0);
  });

  it('treats changes within half the kit resolution as unchanged', () => {
    const jitter = (d: number) =>
      series(
        'wx-1',
        'air_temperature',
        NOW - 7 * HOUR,
        NOW,
        10 * MIN,
        (t) => 12.3 + ((t / (10 * MIN)) % 2) * d,
      );
    expect(tipsOf(sensorStuckRule.evaluate(wx(jitter(0.04))), NOW)).toHaveLength(1);
    expect(tipsOf(sensorStuckRule.evaluate(wx(jitter(0.1))), NOW)).toHaveLength(0);
  });

  it('ignores values that stay put for good reasons, and metrics it has no limit for', () => {
    const calm = series('wx-1', 'wind_speed', NOW - 30 * HOUR, NOW, 10 * MIN, () => 0);
    const rain = series('wx-1', 'rain', NOW - 30 * HOUR, NOW, 10 * MIN, () => 0);
    expect(tipsOf(sensorStuckRule.evaluate(wx([...calm, ...rain])), NOW)).toHaveLength(0);
    const vane = series('wx-1', 'wind_speed', NOW - 25 * HOUR, NOW, 10 * MIN, () => 1.2);
    expect(tipsOf(sensorStuckRule.evaluate(wx(vane)), NOW)).toHaveLength(1);
  });

  it('clears as soon as the value moves', () => {
    const flat = series('wx-1', 'air_temperature', NOW - 7 * HOUR, NOW, 10 * MIN, () => 12.3);
    const s1 = stepTips(emptyTipState(), sensorStuckRule.evaluate(wx(flat)).assessments, NOW);
    const moved = [...flat, { ...flat[0]!, time: NOW + 10 * MIN, value: 12.6 }];
    const s2 = stepTips(
      s1.state,
      sensorStuckRule.evaluate({ ...wx(moved), now: NOW + 10 * MIN }).assessments,
      NOW + 10 * MIN,
    );
    expect([s1.raised.length, s2.cleared.length]).toEqual([1, 1]);
  });
});
