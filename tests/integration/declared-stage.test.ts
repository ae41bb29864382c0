// A growth stage a person saw in the field (the manifest field's `stage`, dated): the running
// gateway's rules take it over the GDD estimate — which needs a season of weather the gateway may
// not have — for 21 days after its date. Here the paddy is declared at tillering (water band
// 1–3 cm) and stands in 6 cm of water: the paddy-water tip appears. Declared 40 days ago, the
// stage is not used (the GDD estimate cannot be made from this gateway's data either, so no tip),
// and the gateway says why.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { standingWater } from '../helpers/paddy.ts';
import { declaredStages } from '../../gateway/tips.ts';
import { DEMO_MANIFEST_FILE, startStack, type Stack } from '../helpers/stack.ts';
import type { Field } from '../../protocol/manifest.ts';

let stack: Stack | undefined;
const written: string[] = [];
afterEach(async () => {
  await stack?.close();
  stack = undefined;
  for (const f of written.splice(0)) rmSync(f, { force: true });
});

const DAY = 86_400_000;
const jstDate = (t: number) => new Date(t + 9 * 3_600_000).toISOString().slice(0, 10);

/** The demo farm with paddy-1's stage declared as seen on `date`. */
async function gatewayWithStage(id: string, date: string): Promise<Stack> {
  const text = readFileSync(DEMO_MANIFEST_FILE, 'utf8');
  const at = text.indexOf('  - id: paddy-1\n');
  expect(at).toBeGreaterThanOrEqual(0);
  const cut = at + '  - id: paddy-1\n'.length;
  const dir = join(DEMO_MANIFEST_FILE, '..');
  const file = join(dir, `hatake-declared-stage-${process.pid}-${date}.yaml`);
  written.push(file);
  writeFileSync(file, `${text.slice(0, cut)}    stage: { id: ${id}, date: '${date}' }\n${text.slice(cut)}`);
  return startStack({ server: false, gateway: { manifest: file } });
}

const paddyTips = async (s: Stack) =>
  (
    (await (await fetch(`http://127.0.0.1:${s.gateway.httpPort}/api/status`)).json()) as {
      tips: { kind: string; field: string; title: { en: string }; text: { en: string } }[];
    }
  ).tips.filter((t) => t.kind === 'paddy_water');

describe('a growth stage seen in the field', () => {
  it('is the stage the paddy-water rule judges by, on the running gateway', async () => {
    stack = await gatewayWithStage('tillering', jstDate(Date.now() - 2 * DAY));
    await standingWater(stack, 6);
    await stack.gateway.tips.run(Date.now());
    const tips = await paddyTips(stack);
    expect(tips).toHaveLength(1);
    expect(tips[0]!.field).toBe('paddy-1');
    expect(tips[0]!.title.en).toMatch(/water level too high/);
    expect(tips[0]!.text.en).toContain('outside the 1.0–3.0 cm band for tillering');
  });

  it('is not used 40 days after its date, and the gateway says so', async () => {
    stack = await gatewayWithStage('tillering', jstDate(Date.now() - 40 * DAY));
    await standingWater(stack, 6);
    await stack.gateway.tips.run(Date.now());
    expect(await paddyTips(stack)).toEqual([]);
    expect(stack.gateway.tips.lastNotes.join('\n')).toMatch(
      /paddy-1's stage tillering of \d{4}-\d{2}-\d{2} \(manifest\) is 40 days old; the GDD estimate is used/,
    );
  });
});

describe('declaredStages', () => {
  const field = (date: string): Field => ({
    id: 'p',
    name: 'P',
    crop: 'rice',
    stage: { id: 'heading', date },
  });
  // 2026-08-20 23:30 JST is 14:30 UTC: the farm's day, not UTC's, counts.
  const now = Date.parse('2026-08-20T14:30:00Z');

  it('takes a stage from its date through 21 days after it, by the farm’s local day', () => {
    expect(declaredStages([field('2026-08-20')], now, 'Asia/Tokyo').stages).toEqual({ p: 'heading' });
    expect(declaredStages([field('2026-07-30')], now, 'Asia/Tokyo').stages).toEqual({ p: 'heading' });
    const old = declaredStages([field('2026-07-29')], now, 'Asia/Tokyo');
    expect(old.stages).toEqual({});
    expect(old.notes).toEqual([
      "stage: p's stage heading of 2026-07-29 (manifest) is 22 days old; the GDD estimate is used (record the field's stage)",
    ]);
    // In UTC the same instant is still 2026-08-20 too, but at 15:30 UTC Tokyo is on the 21st.
    const later = Date.parse('2026-08-20T15:30:00Z');
    expect(declaredStages([field('2026-07-30')], later, 'Asia/Tokyo').stages).toEqual({});
    expect(declaredStages([field('2026-07-30')], later, 'UTC').stages).toEqual({ p: 'heading' });
  });

  it('leaves a stage dated after today to the GDD estimate, and fields without one alone', () => {
    const r = declaredStages([field('2026-08-22'), { id: 'q', name: 'Q' }], now, 'Asia/Tokyo');
    expect(r.stages).toEqual({});
    expect(r.notes).toHaveLength(1);
  });

  it('takes the later of the manifest’s stage and the one recorded on the dashboard', () => {
    const recorded = (stage: string, date: string, field = 'p') => ({
      farm: 'f',
      field,
      stage,
      date,
      by: 'someone',
      at: '2026-08-20T00:00:00Z',
    });
    const tz = 'Asia/Tokyo';
    // Recorded later than the manifest's: recorded.
    expect(
      declaredStages([field('2026-08-01')], now, tz, [recorded('booting', '2026-08-10')]).stages,
    ).toEqual({
      p: 'booting',
    });
    // The manifest's later: the manifest's.
    expect(
      declaredStages([field('2026-08-15')], now, tz, [recorded('booting', '2026-08-10')]).stages,
    ).toEqual({
      p: 'heading',
    });
    // The same day: the one recorded on the dashboard.
    expect(
      declaredStages([field('2026-08-10')], now, tz, [recorded('booting', '2026-08-10')]).stages,
    ).toEqual({
      p: 'booting',
    });
    // A recorded stage stands without one in the manifest, and only for its own field.
    const plain: Field = { id: 'q', name: 'Q', crop: 'rice' };
    expect(declaredStages([plain], now, tz, [recorded('tillering', '2026-08-19', 'q')]).stages).toEqual({
      q: 'tillering',
    });
    expect(declaredStages([plain], now, tz, [recorded('tillering', '2026-08-19')]).stages).toEqual({});
    // A stale recorded stage is the newest seen, so it is not used, even with an older manifest one.
    const stale = declaredStages([field('2026-07-01')], now, tz, [recorded('booting', '2026-07-20')]);
    expect(stale.stages).toEqual({});
    expect(stale.notes[0]).toMatch(/booting of 2026-07-20 \(recorded\) is 31 days old/);
  });
});
