// Values the route walks (tenancy, credential crossing) fill requests with, so that a refusal is
// about who asks and never about a malformed request: query parameters and an automation body
// valid for the demo farm of tests/helpers/stack.ts.

/** A valid value for each query parameter a route of the API may require. */
export const DEMO_QUERY: Readonly<Record<string, string>> = {
  farm: 'demo-farm',
  field: 'upland-1',
  device: 'wx-1',
  metric: 'air_temperature',
  range: '24h',
  path: 'maps/upland-1/ndvi.png',
};

/** A disabled paddy-level automation on the demo farm (POST adds `farm`, PUT adds `version`). */
export const DEMO_AUTOMATION = {
  name: { ja: '水位', en: 'level' },
  enabled: false,
  trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
  below: { device: 'gate-1', command: 'open' },
  limits: { maxRunsPerDay: 4, maxOpenMinutes: 60 },
} as const;
