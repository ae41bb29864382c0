// The gateway's inference refuses — with a coded error naming what was wrong, and without
// disturbing the models already serving — a model whose sha256 or signature does not match its
// card, a truncated ONNX file, a model whose inputs do not match its card, a missing input and an
// out-of-range input. Real onnxruntime sessions in real worker threads.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, sign } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HatakeError } from '../../protocol/errors.ts';
import type { ModelCard } from '../../protocol/model-card.ts';
import { ModelRegistry, sha256Hex } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { feedsFromValues } from '../../edge/inference/inputs.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { ARTIFACTS_DIR, PROFILES_DIR } from '../../models/paths.ts';

const SBNRC = 'osu-sbnrc@1.0.0';
const HS = 'holland-schepers-si@1.0.0';
let dir: string;
let pool: InferencePool;

async function refusal(p: Promise<unknown> | (() => unknown)): Promise<HatakeError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof HatakeError) return e;
    throw e;
  }
  throw new Error('was not refused');
}

/** Writes a model under a new id into the temp folder, with its card edited by `edit`. */
function variant(from: string, id: string, edit: (card: ModelCard, bytes: Buffer) => Buffer | void): void {
  const card = JSON.parse(readFileSync(join(ARTIFACTS_DIR, `${from}.card.json`), 'utf8')) as ModelCard;
  let bytes: Buffer = readFileSync(join(ARTIFACTS_DIR, `${from}.onnx`));
  card.id = id;
  card.file = `${id}@${card.version}.onnx`;
  bytes = edit(card, bytes) ?? bytes;
  writeFileSync(join(dir, card.file), bytes);
  writeFileSync(join(dir, `${id}@${card.version}.card.json`), JSON.stringify(card));
}

const registry = (extra: Partial<ConstructorParameters<typeof ModelRegistry>[0]> = {}) =>
  new ModelRegistry({ modelDirs: [dir], profileDirs: [PROFILES_DIR], ...extra });

/** The SBNRC worked example through the pool: proves the serving model is undisturbed. */
async function sbnrcStillServes(): Promise<void> {
  const card = pool.card(SBNRC);
  const out = await pool.run(SBNRC, feedsFromValues(card, card.example!.inputs));
  expect(out.n_rate!.data[0]).toBeCloseTo(36.06, 2);
}

const zones = (ndvi: number[], validFraction = 0.95) => ({
  type: 'FeatureCollection',
  features: ndvi.map((v, k) => ({
    type: 'Feature',
    id: `z${k + 1}`,
    geometry: {
      type: 'Polygon',
      coordinates: [
        [
          [141.35 + k * 0.001, 43.06],
          [141.351 + k * 0.001, 43.06],
          [141.351 + k * 0.001, 43.061],
          [141.35 + k * 0.001, 43.061],
          [141.35 + k * 0.001, 43.06],
        ],
      ],
    },
    properties: {
      fieldId: 'f1',
      zone: k + 1,
      areaHa: 0.9,
      validFraction,
      indices: { ndvi: { mean: v, std: 0.03, count: 90 } },
    },
  })),
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-models-'));
  for (const ref of [SBNRC, HS]) {
    copyFileSync(join(ARTIFACTS_DIR, `${ref}.onnx`), join(dir, `${ref}.onnx`));
    copyFileSync(join(ARTIFACTS_DIR, `${ref}.card.json`), join(dir, `${ref}.card.json`));
  }
  pool = await InferencePool.start({ size: 2 });
  await pool.load(registry().load(SBNRC));
});
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('refusing models', () => {
  it('refuses a model whose sha256 does not match its card', async () => {
    variant(SBNRC, 'tampered', (_card, bytes) => {
      const b = Buffer.from(bytes);
      b[b.length - 3] ^= 0x01;
      return b;
    });
    const e = await refusal(() => registry().load('tampered@1.0.0'));
    expect(e.code).toBe('HATAKE_E_MODEL_INTEGRITY');
    expect(e.message).toMatch(/sha256 [0-9a-f]{64} does not match/);
    await sbnrcStillServes();
  });

  it('refuses a truncated ONNX file: by its sha256, and as corrupt when the card was regenerated for it', async () => {
    variant(SBNRC, 'truncated', (_card, bytes) => bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect((await refusal(() => registry().load('truncated@1.0.0'))).code).toBe('HATAKE_E_MODEL_INTEGRITY');
    variant(SBNRC, 'truncated2', (card, bytes) => {
      const half = bytes.subarray(0, Math.floor(bytes.length / 2));
      card.sha256 = sha256Hex(half);
      return half;
    });
    const e = await refusal(pool.load(registry().load('truncated2@1.0.0')));
    expect(e.code).toBe('HATAKE_E_MODEL_CORRUPT');
    expect(e.message).toMatch(/onnxruntime cannot load/);
    expect(pool.loaded()).toEqual([SBNRC]);
    await sbnrcStillServes();
  });

  it('refuses a model whose inputs do not match its card (a renamed input, a wrong type)', async () => {
    variant(SBNRC, 'renamed', (card) => {
      card.inputs.find((i) => i.name === 'days')!.name = 'days_after_planting';
    });
    const e = await refusal(pool.load(registry().load('renamed@1.0.0')));
    expect(e.code).toBe('HATAKE_E_MODEL_INCOMPATIBLE');
    expect(e.message).toMatch(/no input days_after_planting/);
    expect(e.message).toMatch(/input\(s\) days the card does not name/);
    variant(SBNRC, 'float32', (card) => {
      card.inputs[0]!.type = 'float32';
    });
    const e2 = await refusal(pool.load(registry().load('float32@1.0.0')));
    expect(e2.code).toBe('HATAKE_E_MODEL_INCOMPATIBLE');
    expect(e2.message).toMatch(/input ndvi is float64, the card says float32/);
    expect(pool.loaded()).toEqual([SBNRC]);
    await sbnrcStillServes();
  });

  it('refuses another model’s ONNX file behind a card, even with a matching sha256', async () => {
    variant(SBNRC, 'swapped', (card) => {
      const other = readFileSync(join(ARTIFACTS_DIR, `${HS}.onnx`));
      card.sha256 = sha256Hex(other);
      return other;
    });
    const e = await refusal(pool.load(registry().load('swapped@1.0.0')));
    expect(e.code).toBe('HATAKE_E_MODEL_INCOMPATIBLE');
    await sbnrcStillServes();
  });

  it('refuses a card whose worked example the model does not reproduce', async () => {
    variant(SBNRC, 'wrong-example', (card) => {
      card.example!.outputs.n_rate = 50;
    });
    const e = await refusal(pool.load(registry().load('wrong-example@1.0.0')));
    expect(e.code).toBe('HATAKE_E_MODEL_INCOMPATIBLE');
    expect(e.message).toMatch(/worked example does not reproduce: n_rate = 36\.0598/);
  });

  it('checks ed25519 signatures: a trusted key passes, another key or a missing signature is refused', async () => {
    const good = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const pem = (k: typeof good) => k.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    variant(SBNRC, 'signed', (card, bytes) => {
      card.signature = { keyId: 'server-1', ed25519: sign(null, bytes, good.privateKey).toString('base64') };
    });
    expect(registry({ trustedKeys: { 'server-1': pem(good) } }).load('signed@1.0.0').card.id).toBe('signed');
    const bad = await refusal(() =>
      registry({ trustedKeys: { 'server-1': pem(other) } }).load('signed@1.0.0'),
    );
    expect(bad.code).toBe('HATAKE_E_MODEL_INTEGRITY');
    expect(bad.message).toMatch(/signature does not verify/);
    const unknown = await refusal(() => registry({ trustedKeys: {} }).load('signed@1.0.0'));
    expect(unknown.message).toMatch(/unknown key "server-1"/);
    const unsigned = await refusal(() => registry({ requireSignature: true }).load(SBNRC));
    expect(unsigned.message).toMatch(/not signed/);
  });

  it('skips hostile or broken card files, naming each, and keeps the good ones', () => {
    writeFileSync(join(dir, 'junk.card.json'), '{"schema": "hatake.model-card/1",');
    writeFileSync(
      join(dir, 'escape.card.json'),
      JSON.stringify({
        ...JSON.parse(readFileSync(join(dir, `${SBNRC}.card.json`), 'utf8')),
        id: 'escape',
        file: '../../etc/passwd.onnx',
      }),
    );
    writeFileSync(join(dir, 'proto.card.json'), '{"__proto__": {"polluted": 1}}');
    const r = registry();
    const files = r.problems.map((p) => p.place?.file ?? '');
    expect(files.some((f) => f.endsWith('junk.card.json'))).toBe(true);
    expect(files.some((f) => f.endsWith('escape.card.json'))).toBe(true);
    expect(files.some((f) => f.endsWith('proto.card.json'))).toBe(true);
    expect(r.problems.every((p) => p.code === 'HATAKE_E_MODEL_CARD')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(r.entry(SBNRC).card.id).toBe('osu-sbnrc');
  });
});

describe('refusing inputs', () => {
  const card = () => pool.card(SBNRC);
  const base = { farm: 'demo-farm', now: Date.parse('2026-05-02T00:00:00Z'), by: 'test' };

  it('refuses a recommendation with a missing input, naming it', async () => {
    const e = await refusal(
      recommend(pool, {
        ...base,
        card: card(),
        profile: registry().profile('winter-wheat-osu-2007'),
        zones: zones([0.5, 0.6]),
      }),
    );
    expect(e.code).toBe('HATAKE_E_MODEL_INPUT_MISSING');
    expect(e.message).toMatch(/field attribute "days_gdd_positive" was not given/);
    await sbnrcStillServes();
  });

  it('refuses an out-of-range input instead of extrapolating, naming the zone and the range', async () => {
    const e = await refusal(
      recommend(pool, {
        ...base,
        card: card(),
        profile: registry().profile('winter-wheat-osu-2007'),
        zones: zones([0.5, 0.99]),
        fieldAttributes: { days_gdd_positive: { value: 85, time: 1, source: 'test' } },
      }),
    );
    expect(e.code).toBe('HATAKE_E_MODEL_INPUT_RANGE');
    expect(e.message).toMatch(/zones\/z2\/ndvi: ndvi = 0\.99 1 is outside the valid range 0\.1–0\.95/);
    const days = await refusal(
      recommend(pool, {
        ...base,
        card: card(),
        profile: registry().profile('winter-wheat-osu-2007'),
        zones: zones([0.5, 0.6]),
        fieldAttributes: { days_gdd_positive: { value: 400, time: 1, source: 'test' } },
      }),
    );
    expect(days.message).toMatch(/days = 400 d is outside the valid range 20–250/);
  });

  it('refuses zones the imagery barely saw', async () => {
    const e = await refusal(
      recommend(pool, {
        ...base,
        card: card(),
        profile: registry().profile('winter-wheat-osu-2007'),
        zones: zones([0.5, 0.6], 0.4),
        fieldAttributes: { days_gdd_positive: { value: 85, time: 1, source: 'test' } },
      }),
    );
    expect(e.code).toBe('HATAKE_E_MODEL_INPUT_RANGE');
    expect(e.message).toMatch(/only 40 % of its pixels were valid/);
  });

  it('refuses a profile that lacks the constants the model reads', async () => {
    const e = await refusal(
      recommend(pool, {
        ...base,
        card: card(),
        profile: registry().profile('corn-holland-schepers'),
        zones: zones([0.5, 0.6]),
        fieldAttributes: { days_gdd_positive: { value: 85, time: 1, source: 'test' } },
      }),
    );
    expect(e.code).toBe('HATAKE_E_MODEL_INPUT_MISSING');
    expect(e.message).toMatch(/profile corn-holland-schepers@1\.0\.0 has no value at sbnrc\.a/);
  });

  it('refuses hand-made inputs that are missing, out of range or unknown', () => {
    const c = card();
    const { days: _d, ...noDays } = c.example!.inputs;
    expect(() => feedsFromValues(c, noDays)).toThrow(/days is missing/);
    expect(() => feedsFromValues(c, { ...c.example!.inputs, ndvi: Number.NaN })).toThrow(
      /ndvi = NaN is outside/,
    );
    expect(() => feedsFromValues(c, { ...c.example!.inputs, ndvi: '0.5' })).toThrow(/ndvi = 0.5 is outside/);
    expect(() => feedsFromValues(c, { ...c.example!.inputs, extra: 1 })).toThrow(/unknown input\(s\) extra/);
  });
});

describe('a worker that dies', () => {
  it('is replaced with every model loaded again before it takes a run', async () => {
    const own = await InferencePool.start({ size: 1 });
    try {
      await own.load(registry().load(SBNRC));
      await own.load(registry().load(HS));
      // Crash injection: the pool's only worker is terminated under it.
      const slots = (own as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots;
      const dead = slots[0];
      await dead!.worker.terminate();
      await expect.poll(() => slots[0] !== dead, { timeout: 5000 }).toBe(true);
      // Right away, a run of the model loaded last: it waits for the reload instead of failing.
      const hs = own.card(HS);
      const out = await own.run(HS, feedsFromValues(hs, hs.example!.inputs));
      const expected = Object.values(hs.example!.outputs)[0] as number;
      expect(Object.values(out)[0]!.data[0]).toBeCloseTo(expected, 3);
      const sb = own.card(SBNRC);
      expect((await own.run(SBNRC, feedsFromValues(sb, sb.example!.inputs))).n_rate!.data[0]).toBeCloseTo(
        36.06,
        2,
      );
    } finally {
      await own.close();
    }
  });
});

describe('a model loaded again while it runs', () => {
  it('finishes the runs in flight on the session they started on (a reload never fails them)', async () => {
    const own = await InferencePool.start({ size: 1 });
    try {
      await own.load(registry().load(SBNRC));
      const sb = own.card(SBNRC);
      const feeds = feedsFromValues(sb, sb.example!.inputs);
      // Runs keep coming while the same model is loaded again (as when two scenes are recommended
      // on at once, or a new version is sent down): some are in flight when the new session
      // takes over, and must still end with their result.
      const runs: Promise<Record<string, { data: ArrayLike<number> }>>[] = [];
      const post = () => runs.push(own.run(SBNRC, feeds, { copy: true }));
      // Runs posted before the reload reach the worker ahead of it and are in flight on the old
      // session when the new one is made; runs keep being posted while the worker makes the new
      // session (at most 40 in flight: the pool refuses more than its bound); a last run goes
      // after the reload has finished.
      for (let i = 0; i < 25; i++) post();
      await new Promise((r) => setImmediate(r)); // the first runs' messages are posted
      let reloaded = false;
      const reload = own.load(registry().load(SBNRC)).then(() => (reloaded = true));
      while (!reloaded) {
        post();
        if (runs.length >= 40) await runs[runs.length - 40]!.catch(() => {});
        else await new Promise((r) => setImmediate(r));
      }
      await reload;
      post();
      const done = await Promise.allSettled(runs);
      expect(done.filter((d) => d.status === 'rejected')).toEqual([]);
      for (const d of done)
        if (d.status === 'fulfilled') expect(d.value.n_rate!.data[0]).toBeCloseTo(36.06, 2);
    } finally {
      await own.close();
    }
  });
});
