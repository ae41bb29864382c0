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
