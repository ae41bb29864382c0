// A real tip for tests: the battery-low rule run on the demo farm with a failing soil probe.
import type { Tip } from '../../protocol/tip.ts';
import { evaluateRules, stepTips, emptyTipState } from '../../edge/rules/index.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { demoManifest } from './stack.ts';

/** Raises the battery-low tip for soil-1 at `now`. */
export function demoTip(now = Date.now()): Tip {
  const m = demoManifest();
  const kits = [...loadCatalogue().kits.values()];
  const readings = [0, 1, 2, 3, 4].map((i) => ({
    device: 'soil-1',
    metric: 'battery',
    value: 3.2,
    unit: 'V',
    time: now - (5 - i) * 600_000,
    flags: [],
  }));
  const { assessments } = evaluateRules({
    now,
    farm: m.farm,
    fields: m.fields,
    devices: m.devices,
    kits,
    readings,
  });
  const { raised } = stepTips(emptyTipState(), assessments, now);
  const tip = raised.find((t) => t.kind === 'battery_low' || t.devices.includes('soil-1'));
  if (!tip) throw new Error(`no tip raised: ${JSON.stringify(raised.map((t) => t.kind))}`);
  return tip;
}

/**
 * A paddy water-level tip as the paddy-water rule raises it for paddy-1 (level 0.5 cm, target 3–5
 * cm; "automate" keeps the level with the field's gate), raised at `created` from a reading at
 * `measured`.
 */
export function paddyWaterTip(opts: {
  id: string;
  now: number;
  created?: number;
  measured?: number;
  dedupKey?: string;
}): Tip {
  const { id, now } = opts;
  return {
    id,
    kind: 'paddy_water',
    severity: 'warning',
    farm: 'demo-farm',
    field: 'paddy-1',
    devices: ['water-1'],
    title: { ja: '水位が低い', en: 'Water level low' },
    text: { ja: '水位 0.5 cm（目標 3–5 cm）', en: 'Level 0.5 cm (target 3–5 cm)' },
    evidence: {
      rule: { id: 'paddy-water-level', version: '1.0.0', params: 'defaults' },
      sources: [{ citation: 'test' }],
      points: [
        {
          device: 'water-1',
          metric: 'water_level',
          value: 0.5,
          unit: 'cm',
          time: opts.measured ?? now,
          role: 'latest',
        },
      ],
      thresholds: [],
      quantities: [],
    },
    action: { type: 'water_level', field: 'paddy-1', device: 'water-1', minCm: 3, maxCm: 5 },
    created: opts.created ?? now,
    expires: now + 12 * 3_600_000,
    dedupKey: opts.dedupKey ?? 'paddy_water:demo-farm:paddy-1',
    reason: 'new',
  };
}
