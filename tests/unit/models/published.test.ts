// The published algorithms as ONNX graphs: each equals its TypeScript reference on thousands of
// random valid inputs (fast-check, relative tolerance 1e-4), reproduces the worked examples of
// AGRONOMY.md, and `hatake model build` reproduces the committed artifacts byte-for-byte.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import type { ModelCard } from '../../../protocol/model-card.ts';
import { buildPublished, checkArtifacts, writeArtifacts } from '../../../models/build.ts';
import { buildSbnrc } from '../../../models/published/sbnrc.ts';
import { buildHollandSchepers } from '../../../models/published/holland-schepers.ts';
import { buildRiceTopdress, CALIBRATIONS } from '../../../models/published/rice-topdress.ts';
import { ARTIFACTS_DIR } from '../../../models/paths.ts';
import { sbnrc, type SbnrcIn } from './reference/sbnrc.ts';
import { hollandSchepers, type HsIn } from './reference/holland-schepers.ts';
import { riceTopdress, type RiceIn } from './reference/rice-topdress.ts';

const SAMPLES = 3000;
const close = (got: number, want: number) => Math.abs(got - want) <= 1e-4 * Math.abs(want) + 1e-9;

/** Runs a model on rows of per-zone values (plus optional tables) in one batch. */
async function runRows(
  bytes: Uint8Array,
  card: ModelCard,
  rows: Record<string, number>[],
  tables: Record<string, number[] | number[][]> = {},
) {
  const session = await ort.InferenceSession.create(bytes);
  const feeds: Record<string, ort.Tensor> = {};
  for (const i of card.inputs) {
    if (i.shape === 'zone')
      feeds[i.name] = new ort.Tensor('float64', Float64Array.from(rows.map((r) => r[i.name]!)), [
        rows.length,
        1,
      ]);
    else {
      const t = tables[i.name]!;
      const dims = Array.isArray(t[0]) ? [t.length, (t[0] as number[]).length] : [t.length];
      feeds[i.name] = new ort.Tensor('float64', Float64Array.from(t.flat()), dims);
    }
  }
  const out = await session.run(feeds);
  await session.release();
  return (name: string, k: number) => Number(out[name]!.data[k]);
}

/** A fast-check arbitrary drawing every per-zone input inside the card's valid range. */
function rowArb(card: ModelCard, overrides: Record<string, fc.Arbitrary<number>> = {}) {
  const rec: Record<string, fc.Arbitrary<number>> = {};
  for (const i of card.inputs)
    if (i.shape === 'zone')
      rec[i.name] = overrides[i.name] ?? fc.double({ min: i.min, max: i.max, noNaN: true });
  return fc.record(rec);
}

function compare<T>(
  rows: T[],
  got: (name: string, k: number) => number,
  ref: (r: T) => Record<string, number>,
) {
  let checked = 0;
  rows.forEach((row, k) => {
    const want = ref(row);
    for (const [name, w] of Object.entries(want)) {
      const g = got(name, k);
      if (!close(g, w)) throw new Error(`${name}: ONNX ${g} vs reference ${w} for ${JSON.stringify(row)}`);
      checked++;
    }
  });
  return checked;
}

describe('OSU SBNRC graph', () => {
  const { bytes, card } = buildSbnrc();

  it('reproduces the AGRONOMY.md worked example (NDVI 0.54, N-rich 0.70, 85 days → 36.06 kg N/ha)', async () => {
    const ex = card.example!.inputs as unknown as SbnrcIn;
    const got = await runRows(bytes, card, [ex as unknown as Record<string, number>]);
    expect(got('n_rate', 0)).toBeCloseTo(36.06, 2);
    expect(got('yp0', 0)).toBeCloseTo(3042.6, 1);
    expect(got('ypn', 0)).toBeCloseTo(3944.0, 0);
    expect(got('ri', 0)).toBeCloseTo(1.2963, 4);
    expect(sbnrc(ex).n_rate).toBeCloseTo(36.06, 2);
  });

  it('equals the TypeScript reference on thousands of random valid inputs (raw and adjusted RI)', async () => {
    const rows = fc.sample(rowArb(card, { adjust_ri: fc.constantFrom(0, 1) }), {
      numRuns: SAMPLES,
      seed: 7,
    }) as unknown as SbnrcIn[];
    const got = await runRows(bytes, card, rows as unknown as Record<string, number>[]);
    expect(compare(rows, got, sbnrc)).toBe(SAMPLES * 5);
  });

  it('gives 0 when the reference is no greener than the zone, and caps at YP_MAX', async () => {
    const base = card.example!.inputs as unknown as SbnrcIn;
    const rows = [
      { ...base, ndvi_ref: 0.5 },
      { ...base, yp_max: 3100 },
    ];
    const got = await runRows(bytes, card, rows as unknown as Record<string, number>[]);
    expect(got('n_rate', 0)).toBe(0);
    expect(got('ypn', 1)).toBe(3100);
  });
});

describe('Holland–Schepers graph', () => {
  const { bytes, card } = buildHollandSchepers();

  it('reproduces its hand-computed example (SI 0.9, ΔSI 0.2 → 130·√0.5)', async () => {
    const got = await runRows(bytes, card, [card.example!.inputs as Record<string, number>]);
    expect(got('n_rate', 0)).toBeCloseTo(130 * Math.SQRT1_2, 9);
  });

  it('equals the TypeScript reference on thousands of random valid inputs', async () => {
    const rows = fc.sample(rowArb(card), { numRuns: SAMPLES, seed: 11 }) as unknown as HsIn[];
    const got = await runRows(bytes, card, rows as unknown as Record<string, number>[]);
    expect(compare(rows, got, hollandSchepers)).toBe(SAMPLES * 3);
    // the random draw covers all three regimes: no N (SI ≥ 1), sqrt back-off, and clamped
    expect(rows.some((r) => r.vi >= r.vi_ref)).toBe(true);
    expect(rows.some((r) => r.vi / r.vi_ref < 1 - r.delta_si)).toBe(true);
    expect(rows.some((r) => r.vi / r.vi_ref < 1 && r.vi / r.vi_ref > 1 - r.delta_si)).toBe(true);
  });
});

describe('rice panicle-initiation top-dressing graphs', () => {
  for (const c of CALIBRATIONS) {
    const { bytes, card } = buildRiceTopdress(c.index);

    it(`${c.index}: reproduces the Niigata chart example (64 cm, SPAD 35 → 1 kg N/10a)`, async () => {
      const ex = card.example!.inputs as unknown as RiceIn;
      const got = await runRows(bytes, card, [ex as unknown as Record<string, number>], {
        spad_edges: ex.spad_edges,
        height_edges: ex.height_edges,
        table: ex.table,
      });
      expect(got('spad', 0)).toBeCloseTo(35, 9);
      expect(got('n_rate_10a', 0)).toBe(1);
      expect(got('n_rate', 0)).toBe(10);
      expect(got('lodging_risk', 0)).toBe(0);
    });

    it(`${c.index}: equals the TypeScript reference on thousands of random inputs and random guideline tables`, async () => {
      const tableArb = fc
        .record({
          spad: fc.uniqueArray(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 6 }),
          height: fc.uniqueArray(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 4 }),
        })
        .chain(({ spad, height }) => {
          const s = [...spad].sort((a, b) => a - b);
          const h = [...height].sort((a, b) => a - b);
          return fc.record({
            spad_edges: fc.constant(s),
            height_edges: fc.constant(h),
            table: fc.array(
              fc.array(fc.double({ min: 0, max: 10, noNaN: true }), {
                minLength: h.length + 1,
                maxLength: h.length + 1,
              }),
              {
                minLength: s.length + 1,
                maxLength: s.length + 1,
              },
            ),
          });
        });
      const tables = fc.sample(tableArb, { numRuns: 30, seed: 3 });
      let checked = 0;
      for (const t of tables) {
        const rows = fc
          .sample(rowArb(card), { numRuns: 100, seed: checked + 1 })
          .map((r) => ({ ...r, ...t })) as unknown as RiceIn[];
        const got = await runRows(bytes, card, rows as unknown as Record<string, number>[], t);
        checked += compare(rows, got, (r) => riceTopdress(r, c));
      }
      expect(checked).toBe(30 * 100 * 5);
    });
  }
});

describe('hatake model build', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-build-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rebuilds the committed artifacts byte-for-byte', () => {
    expect(checkArtifacts(ARTIFACTS_DIR)).toEqual([]);
    writeArtifacts(dir);
    for (const m of buildPublished())
      expect(
        readFileSync(join(dir, m.card.file)).equals(readFileSync(join(ARTIFACTS_DIR, m.card.file))),
      ).toBe(true);
  });

  it('notices an artifact that drifted from its builder', () => {
    writeArtifacts(dir);
    const f = join(dir, buildSbnrc().card.file);
    const bytes = readFileSync(f);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(f, bytes);
    expect(checkArtifacts(dir)).toEqual([`${buildSbnrc().card.file}: bytes differ`]);
  });
});
