// Automations and kits for the automation engine's tests: the real kit catalogue, a farm with a
// soil probe, a paddy level sensor and two water gates, and automation documents as the server
// writes them.
import { loadCatalogue } from '../../../firmware-config/catalogue.ts';
import type { Automation } from '../../../protocol/automation.ts';
import type { Kit } from '../../../protocol/kit.ts';

export const catalogue = loadCatalogue();
export const FARM = 'demo-farm';
export const DEVICES: Record<string, string> = {
  'soil-1': 'hatake-soil-probe',
  'level-1': 'hatake-paddy-water',
  'gate-1': 'hatake-water-gate',
  'gate-2': 'hatake-water-gate',
  'wx-1': 'hatake-weather-station',
};
export const kitOf = (device: string): Kit | undefined =>
  Object.hasOwn(DEVICES, device) ? catalogue.get(DEVICES[device]!) : undefined;

export const MIN = 60_000;
export const HOUR = 3_600_000;
/** Epoch ms of a Japan Standard Time wall-clock time ('2026-11-28T10:00'). */
export const jst = (s: string) => Date.parse(`${s}:00+09:00`);

/** "When VWC < 22 %, open gate-1 for 30 min, at most twice a day, never 22:00–05:00, 60 min apart." */
export function irrigation(
  over: Partial<Automation> = {},
  limits: Partial<Automation['limits']> = {},
): Automation {
  return {
    id: 'aut-irrigate',
    farm: FARM,
    field: 'upland-1',
    name: { ja: '畑1号の灌水', en: 'Upland 1 irrigation' },
    enabled: true,
    version: 1,
    trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: 0.22 },
    action: { device: 'gate-1', command: 'open_for', params: { minutes: 30 } },
    limits: {
      maxRunsPerDay: 2,
      quietHours: { from: '22:00', to: '05:00' },
      maxOpenMinutes: 40,
      cooldownMinutes: 60,
      confirmSeconds: 30,
      retries: 1,
      ...limits,
    },
    createdBy: 'demo-farmer',
    createdAt: 0,
    ...over,
  };
}

/** "Keep the paddy water level between 3 and 5 cm": below → open gate-2, above → close it. */
export function paddyBand(
  over: Partial<Automation> = {},
  limits: Partial<Automation['limits']> = {},
): Automation {
  return {
    id: 'aut-paddy-band',
    farm: FARM,
    field: 'paddy-1',
    name: { ja: '田んぼ1号の水位 3〜5 cm', en: 'Paddy 1 water level 3–5 cm' },
    enabled: true,
    version: 1,
    trigger: { kind: 'band', device: 'level-1', metric: 'water_level', low: 3, high: 5 },
    below: { device: 'gate-2', command: 'open' },
    above: { device: 'gate-2', command: 'close' },
    limits: { maxRunsPerDay: 12, maxOpenMinutes: 180, confirmSeconds: 30, retries: 1, ...limits },
    createdBy: 'demo-farmer',
    createdAt: 0,
    ...over,
  };
}
