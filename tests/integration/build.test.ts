// The compiled tree (scripts/build.js → dist/hatake.mjs), what a gateway runs in production and
// `npm start` runs: it works with no TypeScript loader at all (a resolve hook refuses tsx and every
// .ts file — the same hook makes the source entry fail, so it can fail), its inference worker is
// the compiled one and gives the sources' answer, and it refuses to start when a source changed
// since it was built. The gateway's durability from the compiled tree: tests/chaos/gateway-sigkill.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS_DIR } from '../../models/paths.ts';
import type { ModelCard } from '../../protocol/model-card.ts';
import { changedSources, type BuildRecord } from '../../runtime/build-info.ts';
import { NO_TS_ARGS, buildDist } from '../helpers/dist.ts';

const ROOT = join(import.meta.dirname, '../..');
const run = (args: string[]) =>
  spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, HATAKE_LOG_LEVEL: 'warn' },
  });

// The card's worked example (AGRONOMY.md), which its ONNX graph must reproduce.
const SBNRC_CARD = JSON.parse(
  readFileSync(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.card.json'), 'utf8'),
) as ModelCard;
const SBNRC_INPUT = JSON.stringify(SBNRC_CARD.example!.inputs);

let dist: ReturnType<typeof buildDist>;
beforeAll(() => {
  dist = buildDist();
});
afterAll(() => dist.remove());

describe('the compiled tree', () => {
  it('records every bundled source with its size and time, and the record matches the sources', () => {
    const record = JSON.parse(readFileSync(join(dist.dir, 'build.json'), 'utf8')) as BuildRecord;
    const sources = Object.keys(record.inputs).map((p) => new URL(p, pathToFileURL(`${dist.dir}/`)).pathname);
    for (const file of ['cli/main.ts', 'cli/built.ts', 'gateway/ingest.ts', 'edge/inference/worker.ts'])
      expect(sources).toContain(join(ROOT, file));
    expect(sources.every((s) => !s.includes('/node_modules/'))).toBe(true);
    expect(changedSources(pathToFileURL(join(dist.dir, 'build.json')))).toEqual([]);
  });

  it('runs with tsx and TypeScript refused, where the source entry cannot', () => {
    const compiled = run([...NO_TS_ARGS, dist.entry, 'kit', 'list']);
    expect(compiled.stderr).toBe('');
    expect(compiled.status).toBe(0);
    expect(compiled.stdout).toMatch(/^hatake-soil-probe\t/m);
    const sources = run([...NO_TS_ARGS, 'bin/hatake.js', 'kit', 'list']);
    expect(sources.status).not.toBe(0);
    expect(sources.stderr).toMatch(/no TypeScript here: tsx/);
  });

  it('runs a model in its compiled inference worker and gives the sources’ answer', () => {
    const compiled = run([...NO_TS_ARGS, dist.entry, 'model', 'run', 'osu-sbnrc', '--input', SBNRC_INPUT]);
    expect(compiled.stderr).toBe('');
    expect(compiled.status).toBe(0);
    const fromSources = run(['bin/hatake.js', 'model', 'run', 'osu-sbnrc', '--input', SBNRC_INPUT]);
    expect(fromSources.status).toBe(0);
    const answer = JSON.parse(compiled.stdout) as { outputs: { n_rate: number[] } };
    expect(answer).toEqual(JSON.parse(fromSources.stdout));
    expect(answer.outputs.n_rate[0]).toBeCloseTo(SBNRC_CARD.example!.outputs.n_rate!, 1);
  });

  it('refuses to start, naming the source, when one changed since the build', () => {
    const file = join(dist.dir, 'build.json');
    const original = readFileSync(file, 'utf8');
    try {
      const record = JSON.parse(original) as BuildRecord;
      const ingest = Object.keys(record.inputs).find((p) => p.endsWith('gateway/ingest.ts'))!;
      record.inputs[ingest]!.size += 1;
      writeFileSync(file, JSON.stringify(record));
      const stale = run([dist.entry, 'kit', 'list']);
      expect(stale.status).toBe(78);
      expect(stale.stdout).toBe('');
      expect(stale.stderr).toContain('older than its sources');
      expect(stale.stderr).toContain('gateway/ingest.ts');
      expect(stale.stderr).toContain('npm run build');

      rmSync(file);
      const unrecorded = run([dist.entry, 'kit', 'list']);
      expect(unrecorded.status).toBe(78);
      expect(unrecorded.stdout).toBe('');
      expect(unrecorded.stderr).toMatch(/cannot read the build record .*build\.json/);
    } finally {
      writeFileSync(file, original);
    }
  });
});

describe('a reader that closes the pipe early', () => {
  // `hatake kit list | head -1`: the pipe closes before the command has written; it ends quietly.
  const closedEarly = (entry: string) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [entry, 'kit', 'list'], { cwd: ROOT });
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });

  it.each([
    ['the sources', 'bin/hatake.js'],
    ['the compiled tree', ''],
  ])('ends the command from %s with status 0 and no stack trace', async (_, entry) => {
    const { code, stderr } = await closedEarly(entry || dist.entry);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('changedSources', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-build-record-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const recordFile = join(dir, 'build.json');
  const record = pathToFileURL(recordFile);
  const recordOf = (files: string[]) => {
    const inputs: BuildRecord['inputs'] = {};
    for (const f of files) {
      const st = statSync(join(dir, f));
      inputs[f] = { size: st.size, mtimeMs: st.mtimeMs };
    }
    writeFileSync(recordFile, JSON.stringify({ version: '0', node: 'v20', builtAt: '', inputs }));
  };

  it('names a file touched with the same size, and a file gone', () => {
    writeFileSync(join(dir, 'a.ts'), 'export const a = 1;\n');
    writeFileSync(join(dir, 'b.ts'), 'export const b = 2;\n');
    recordOf(['a.ts', 'b.ts']);
    expect(changedSources(record)).toEqual([]);
    const later = new Date(statSync(join(dir, 'a.ts')).mtimeMs + 5000);
    utimesSync(join(dir, 'a.ts'), later, later);
    expect(changedSources(record)).toEqual(['a.ts']);
    rmSync(join(dir, 'b.ts'));
    expect(changedSources(record)).toEqual(['a.ts', 'b.ts']);
  });

  it('throws a clear error for a record that is not JSON or lists no sources', () => {
    writeFileSync(recordFile, '{"inputs":');
    expect(() => changedSources(record)).toThrow(/cannot read the build record/);
    writeFileSync(recordFile, '{"version":"0"}');
    expect(() => changedSources(record)).toThrow(/lists no sources/);
    writeFileSync(recordFile, 'null');
    expect(() => changedSources(record)).toThrow(/lists no sources/);
  });
});
