// `npm run bench`: runs every benchmark in bench/ one after another (each measures hatake and its
// named peer in the same run on this machine), prints one table — figure, hatake, peer, ratio,
// target — and writes it with a description of the machine to docs/benchmarks.md.
//   npm run bench [-- --only ingest,sync] [-- --quick]
import { spawnSync } from 'node:child_process';
import { cpus, totalmem, release, tmpdir } from 'node:os';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ratio, type BenchRow } from './lib/report.ts';

const ROOT = join(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: 'docs/benchmarks.md' },
  },
});
const quick = values.quick;
const BENCHES: { name: string; args: string[] }[] = [
  {
    name: 'ingest',
    args: quick ? ['--messages', '5000', '--window', '20'] : ['--messages', '20000'],
  },
  { name: 'sync', args: quick ? ['--readings', '200000'] : ['--readings', '1000000'] },
  { name: 'inference', args: quick ? ['--zones', '5000', '--runs', '5'] : [] },
  { name: 'storage', args: [] },
  { name: 'latency', args: quick ? ['--messages', '100'] : ['--messages', '300'] },
  { name: 'imagery', args: [] },
  { name: 'tips', args: quick ? ['--devices', '10', '--rounds', '2'] : [] },
];
const only = values.only?.split(',');
const jsonFile = join(mkdtempSync(join(tmpdir(), 'hatake-bench-')), 'rows.jsonl');
const failures: string[] = [];
const started = Date.now();
for (const b of BENCHES.filter((x) => !only || only.includes(x.name))) {
  process.stdout.write(`\n== bench/${b.name}.ts ${b.args.join(' ')}\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join('bench', `${b.name}.ts`), ...b.args], {
    cwd: ROOT,
    stdio: 'inherit',
    // MALLOC_ARENA_MAX=1 as the gateway's systemd unit sets it: measure what is deployed.
    env: { ...process.env, BENCH_JSON: jsonFile, HATAKE_LOG_LEVEL: 'silent', MALLOC_ARENA_MAX: '1' },
    timeout: 20 * 60_000,
  });
  if (r.status !== 0) failures.push(`${b.name} (exit ${r.status ?? r.signal})`);
  process.stdout.write(`   (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
}
const rows = existsSync(jsonFile)
  ? readFileSync(jsonFile, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as BenchRow & { title: string })
  : [];
rmSync(join(jsonFile, '..'), { recursive: true, force: true });
const fmt = (n: number | null) =>
  n === null ? '—' : Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(3);
const table = [
  '| benchmark | figure | hatake | peer | ratio | target | met |',
  '|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.title.split(' (')[0]} | ${r.figure} (${r.unit}) | ${fmt(r.hatake)} | ${r.peer === null ? '—' : `${fmt(r.peer)} (${r.peerName})`} | ${fmt(ratio(r))} | ${r.target} | ${r.met === null ? '—' : r.met ? 'yes' : '**no**'} |`,
  ),
].join('\n');
const cpu = cpus();
const machine = `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, Node.js ${process.version}`;
const md = `# Benchmarks

Measured by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${new Date(started).toISOString().slice(0, 16).replace('T', ' ')} UTC.

**Machine:** ${machine}. A shared virtual machine: expect a few percent of noise between runs;
every ratio compares two figures measured minutes apart in the same run.

${table}

Ratios are hatake ÷ peer. For times, latencies, CPU and memory lower is better; for rates,
higher. A row with "—" for peer and ratio is a figure of hatake's alone that has no like-for-like
peer (a peak within the same run, a share of another row's CPU, bytes on hatake's own wire
format): it is reported, not compared. Each script's header says what it measures and how; \`node --import tsx bench/NAME.ts\`
runs one alone.
${failures.length ? `\nScripts that failed in this run: ${failures.join(', ')}.\n` : ''}`;
// What people wrote under the table (why a target is missed, what was tried) outlives a re-run.
const NOTES = '<!-- notes: kept by npm run bench -->';
const outFile = join(ROOT, values.out);
const previous = existsSync(outFile) ? readFileSync(outFile, 'utf8') : '';
const notes = previous.includes(NOTES) ? previous.slice(previous.indexOf(NOTES)) : '';
if (!only) writeFileSync(outFile, notes ? `${md}\n${notes}` : md);
process.stdout.write(`\n${table}\n\nmachine: ${machine}\n${only ? '' : `written to ${values.out}\n`}`);
process.exit(failures.length ? 1 : 0);
