// bench/tips: the gateway's tip engine on a busy farm — 50 devices reporting every minute (30 soil
// probes, 10 weather stations, 10 paddy water-level sensors; 48 h of every series and 14 days of
// the stations' weather, ~1.6 M readings) — the time one evaluation takes (window read, every
// rule, the lifecycle, the outbox): the first after a start, which reads the whole window, and
// then as on a farm, a minute apart with a minute's readings of every device committed between
// (the store keeps the window and reads on) — and the longest the event loop waits meanwhile (what
// an MQTT PUBACK or a status page waits). The peer is the plain read of the same rows with
// better-sqlite3 (one `.all()` of each series, as objects), the least any rule engine over this
// store must do if it reads the window whole, and all of it one block of the event loop.
// The peer and the minute-apart evaluations run once before their measured rounds.
//   node --import tsx bench/tips.ts [--devices 50] [--rounds 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { loadCatalogue } from '../firmware-config/catalogue.ts';
import { GatewayStore } from '../gateway/store.ts';
import { TipEngine } from '../gateway/tips.ts';
import { WEATHER_METRICS } from '../edge/rules/hourly-weather.ts';
import { FUTURE_TOLERANCE_MS } from '../edge/rules/context.ts';
import type { Manifest } from '../protocol/manifest.ts';
import type { Reading } from '../protocol/telemetry.ts';
import { median, report, type BenchRow } from './lib/report.ts';

const { values: args } = parseArgs({
  options: { devices: { type: 'string', default: '50' }, rounds: { type: 'string', default: '3' } },
});
const DEVICES = Number(args.devices);
const ROUNDS = Number(args.rounds);
const MIN = 60_000;
const HOUR = 60 * MIN;
const WINDOW_HOURS = 48;
const WEATHER_HOURS = 14 * 24;
const dir = mkdtempSync(join(tmpdir(), 'hatake-bench-tips-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const catalogue = loadCatalogue();
const KINDS = [
  { kit: 'hatake-soil-probe', field: 'upland-1', share: 0.6 },
  { kit: 'hatake-weather-station', field: 'upland-1', share: 0.2 },
  { kit: 'hatake-paddy-water', field: 'paddy-1', share: 0.2 },
] as const;
const square = (x: number, y: number): [number, number][][] => [
  [
    [x, y],
    [x + 0.002, y],
    [x + 0.002, y + 0.001],
    [x, y + 0.001],
    [x, y],
  ],
];
const manifest: Manifest = {
  farm: { id: 'bench-farm', name: 'ベンチ農場', region: 'niigata', timezone: 'Asia/Tokyo' },
  fields: [
    {
      id: 'paddy-1',
      name: '田んぼ',
      crop: 'rice',
      soilTexture: 'clay-loam',
      plantingDate: '2026-05-10',
      boundary: { type: 'Polygon', coordinates: square(138.9, 37.8) },
    },
    {
      id: 'upland-1',
      name: '畑',
      crop: 'winter-wheat',
      soilTexture: 'loam',
      plantingDate: '2026-10-05',
      boundary: { type: 'Polygon', coordinates: square(138.903, 37.8) },
    },
  ],
  devices: KINDS.flatMap(({ kit, field, share }) =>
    Array.from({ length: Math.round(DEVICES * share) }, (_, i) => ({
      id: `${kit.replace('hatake-', '')}-${i}`,
      kit,
      field,
      position: (field === 'paddy-1' ? [138.9005, 37.8005] : [138.9035, 37.8005]) as [number, number],
    })),
  ),
};

// The farm's data: every metric a minute (the kits' interval), back from now.
let now = Date.now();
const store = new GatewayStore(join(dir, 'gateway.db'));
store.db.pragma('synchronous = OFF'); // filling only; the runs read
const t0 = performance.now();
/** A device's readings at time t (every metric of its kit but the raw ones). */
function readingsAt(d: Manifest['devices'][number], t: number): Reading[] {
  const kit = catalogue.kits.get(d.kit)!;
  return Object.entries(kit.metrics)
    .filter(([m]) => m !== 'soil_raw' && m !== 'soil_permittivity')
    .map(([metric, spec]) => {
      const wave = 0.5 + 0.2 * Math.sin(t / (3 * HOUR) + metric.length);
      const value = metric === 'battery' ? spec.max - 0.1 : spec.min + (spec.max - spec.min) * wave;
      return { device: d.id, metric, value, unit: spec.unit, time: t, flags: [] };
    });
}
for (const d of manifest.devices) {
  const kit = catalogue.kits.get(d.kit)!;
  const weather = (WEATHER_METRICS as readonly string[]).filter((m) => kit.metrics[m]).length > 0;
  const hours = weather ? WEATHER_HOURS : WINDOW_HOURS;
  let batch: Reading[] = [];
  for (let t = now - hours * HOUR; t <= now; t += MIN) {
    batch.push(...readingsAt(d, t));
    if (batch.length >= 50_000) {
      store.commit(batch, [], now);
      batch = [];
    }
  }
  store.commit(batch, [], now);
}
const readings = store.readingCount();
process.stdout.write(`filled ${readings} readings in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

const engine = new TipEngine(
  store,
  catalogue,
  () => manifest,
  {
    windowHours: WINDOW_HOURS,
    weatherHours: WEATHER_HOURS,
    minIntervalMs: MIN,
    everyMs: 5 * MIN,
    timeZone: 'Asia/Tokyo',
  },
  pino({ level: 'silent' }),
);

/** Wall time and the event loop's longest wait while `fn` runs (sampled every 1 ms). */
async function measured(fn: () => unknown): Promise<{ ms: number; blockMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, 5));
  const start = performance.now();
  await fn();
  const ms = performance.now() - start;
  // A block at the very end shows up at the next sample.
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  return { ms, blockMs: h.max / 1e6 };
}

// The first evaluation after a start reads the whole window (and fills the memo of daily
// extremes); each later one, as on a farm, comes a minute later with a minute's new readings of
// every device committed meanwhile, and reads on from where the previous one ended.
const first = await measured(() => engine.run(now));
const ours: { ms: number; blockMs: number }[] = [];
for (let i = 0; i <= ROUNDS; i++) {
  now += MIN;
  store.commit(
    manifest.devices.flatMap((d) => readingsAt(d, now)),
    [],
    now,
  );
  ours.push(await measured(() => engine.run(now)));
}
ours.shift();
const rss = process.resourceUsage().maxRSS / 1024;

// The peer: every series' rows in the same ranges, as objects, in one synchronous go.
const windowFrom = now - WINDOW_HOURS * HOUR;
const weatherFrom = now - WEATHER_HOURS * HOUR;
const stmt = store.db.prepare(
  'SELECT device, metric, value, unit, time, flags FROM readings WHERE device = ? AND metric = ? AND time > ? AND time <= ? ORDER BY time',
);
const kits = new Map(manifest.devices.map((d) => [d.id, catalogue.kits.get(d.kit)!]));
let peerRows = 0;
const peer: { ms: number; blockMs: number }[] = [];
for (let i = 0; i <= ROUNDS; i++)
  peer.push(
    await measured(() => {
      peerRows = 0;
      for (const { device, metric } of store.seriesKeys()) {
        const weather =
          (WEATHER_METRICS as readonly string[]).includes(metric) && kits.get(device)?.metrics[metric];
        peerRows += stmt.all(
          device,
          metric,
          weather ? weatherFrom : windowFrom,
          now + FUTURE_TOLERANCE_MS,
        ).length;
      }
    }),
  );
peer.shift();
store.close();

const PEER = `better-sqlite3 .all() of the same ${peerRows} rows, no rules`;
const rows: BenchRow[] = [
  {
    figure: `first tip evaluation after a start (the whole window read), ${DEVICES} devices`,
    unit: 'ms',
    hatake: first.ms,
    peer: median(peer.map((r) => r.ms)),
    peerName: PEER,
    better: 'lower',
    target: 'report',
    met: null,
  },
  {
    figure: `tip evaluation a minute later, a minute's readings come, ${DEVICES} devices at 1/min (${peerRows} readings in the window), median of ${ROUNDS}`,
    unit: 'ms',
    hatake: median(ours.map((r) => r.ms)),
    peer: median(peer.map((r) => r.ms)),
    peerName: PEER,
    better: 'lower',
    target: 'report',
    met: null,
  },
  {
    figure: 'longest event-loop wait during those, largest of the rounds',
    unit: 'ms',
    hatake: Math.max(...ours.map((r) => r.blockMs)),
    peer: Math.max(...peer.map((r) => r.blockMs)),
    peerName: PEER,
    better: 'lower',
    target: '< 100 ms',
    met: Math.max(...ours.map((r) => r.blockMs)) < 100,
  },
  {
    figure:
      'longest event-loop wait during the first evaluation after a start (code cold, daily extremes read)',
    unit: 'ms',
    hatake: first.blockMs,
    peer: Math.max(...peer.map((r) => r.blockMs)),
    peerName: PEER,
    better: 'lower',
    target: 'report',
    met: null,
  },
  {
    figure: 'peak RSS of the process after the evaluations (before the peer ran)',
    unit: 'MB',
    hatake: rss,
    peer: null,
    peerName: '',
    better: 'lower',
    target: 'report',
    met: null,
  },
];
report('tips: rule evaluation on a busy farm', rows);
