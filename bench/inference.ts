// Benchmark: zone-recommendations per second through the inference worker pool beside a direct
// onnxruntime session.run on the same batch (the peer), and the event-loop delay of the process
// while a large batch runs each way. Targets: the pool within 20 % of direct; event-loop delay
// under 20 ms with the pool (direct blocks the loop for the whole run — that is the point).
//
//   npx tsx bench/inference.ts [--zones 20000] [--runs 20]
import { report, type BenchRow } from './lib/report.ts';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { ModelRegistry } from '../edge/inference/registry.ts';
import { InferencePool } from '../edge/inference/pool.ts';
import type { Feeds } from '../edge/inference/inputs.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../models/paths.ts';

const { values } = parseArgs({
  options: { zones: { type: 'string', default: '20000' }, runs: { type: 'string', default: '20' } },
});
const ZONES = Number(values.zones);
const RUNS = Number(values.runs);

/** Random valid inputs for every zone-shaped input (tables from the card's example). */
function batch(card: ReturnType<ModelRegistry['load']>['card'], n: number): Feeds {
  const feeds: Feeds = {};
  let seed = 1;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const i of card.inputs) {
    if (i.shape === 'zone') {
      const data = new Float64Array(n);
      for (let k = 0; k < n; k++)
        data[k] = i.levels ? Math.floor(rnd() * i.levels.length) : i.min + rnd() * (i.max - i.min);
      feeds[i.name] = { type: 'float64', data, dims: [n, 1] };
    } else {
      const t = card.example!.inputs[i.name] as number[] | number[][];
      feeds[i.name] = {
        type: 'float64',
        data: Float64Array.from(t.flat()),
        dims: Array.isArray(t[0]) ? [t.length, (t[0] as number[]).length] : [t.length],
      };
    }
  }
  return feeds;
}

async function measure(label: string, fn: () => Promise<unknown>) {
  await fn(); // warm
  const h = monitorEventLoopDelay({ resolution: 1 });
  // a timer that must keep firing while the batch runs, as MQTT keep-alives and HTTP do
  const tick = setInterval(() => {}, 1);
  h.enable();
  const t0 = performance.now();
  for (let r = 0; r < RUNS; r++) await fn();
  const ms = performance.now() - t0;
  h.disable();
  clearInterval(tick);
  return { label, perSec: (ZONES * RUNS) / (ms / 1000), p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}

const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
const pool = await InferencePool.start({ size: 1 });
const rows: BenchRow[] = [];
for (const ref of ['lasrosas-corn-rf@1.0.0', 'osu-sbnrc@1.0.0']) {
  const model = reg.load(ref);
  await pool.load(model);
  const feeds = batch(model.card, ZONES);
  const session = await ort.InferenceSession.create(model.bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const tensors = Object.fromEntries(
    Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor(f.type, f.data, f.dims)]),
  );
  const direct = await measure('direct', () => session.run(tensors));
  // The pool's real path: inputs built for one run are handed over (transferred, not copied).
  // One fresh copy per run is made before timing, so the timed loop is transfer + run only.
  const copies = Array.from({ length: RUNS + 1 }, () =>
    Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, { ...f, data: f.data.slice() }])),
  ) as Feeds[];
  const pooled = await measure('pool', () => pool.run(ref, copies.pop()!));
  await session.release();
  const ratio = pooled.perSec / direct.perSec;
  rows.push(
    {
      figure: `${ref}: zone-recommendations/s (batch ${ZONES})`,
      unit: '1/s',
      hatake: pooled.perSec,
      peer: direct.perSec,
      peerName: 'direct session.run',
      better: 'higher',
      target: '≥ 0.8× direct',
      met: ratio >= 0.8,
    },
    {
      figure: `${ref}: event-loop delay p99 while it runs`,
      unit: 'ms',
      hatake: pooled.p99,
      peer: direct.p99,
      peerName: 'direct session.run',
      better: 'lower',
      target: '< 20 ms',
      met: pooled.p99 < 20,
    },
    {
      figure: `${ref}: event-loop delay max while it runs`,
      unit: 'ms',
      hatake: pooled.max,
      peer: direct.max,
      peerName: 'direct session.run',
      better: 'lower',
      target: '< 20 ms',
      met: pooled.max < 20,
    },
  );
}
await pool.close();
report('inference', rows);
