// A growth stage recorded on the dashboard by the people who walk the field: the server checks it
// against the field's crop and the days the rules can use, keeps its history, and sends it down as
// a signed `stage` document; the running gateway's rules take it over the GDD estimate (which needs
// a season of weather this gateway does not have). Here the paddy is recorded at tillering (water
// band 1–3 cm) and stands in 6 cm: the paddy-water tip appears; withdrawn, the stage is gone from
// the gateway and the rule is back to the estimate it cannot make.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standingWater } from '../helpers/paddy.ts';
import type { FieldStageDoc, FieldStageView } from '../../protocol/field-stage.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { eventually, signIn, startRegisteredStack, type Stack } from '../helpers/stack.ts';

const DAY = 86_400_000;
const jstDate = (t: number) => new Date(t + 9 * 3_600_000).toISOString().slice(0, 10);
const PATH = '/api/v1/farms/demo-farm/fields/paddy-1/stage';

const dir = mkdtempSync(join(tmpdir(), 'hatake-field-stage-'));
let server: HatakeServer;
let url: string;
let stack: Stack;
let close: () => Promise<void>;
let farmer: Awaited<ReturnType<typeof signIn>>;

beforeAll(async () => {
  const r = await startRegisteredStack(dir, 'gw-stage');
  ({ server, url, stack } = r);
  close = () => r.close();
  // The server knows the farm's fields once the gateway has synced its manifest.
  await eventually(
    () => server.ctx.db.prepare("SELECT 1 FROM fields WHERE farm = 'demo-farm' AND id = 'paddy-1'").get(),
    20_000,
  );
  farmer = await signIn(url, 'demo-farmer');
}, 60_000);
afterAll(async () => {
  await close?.();
  rmSync(dir, { recursive: true, force: true });
});

const json = { 'content-type': 'application/json' };
const put = (body: unknown, who = farmer, path = PATH) =>
  who(path, { method: 'PUT', headers: json, body: typeof body === 'string' ? body : JSON.stringify(body) });
const problem = async (res: Response) => ({
  status: res.status,
  ...((await res.json()) as {
    code: string;
    detail: string;
    pointer?: string;
    expected?: string;
  }),
});

const paddyTips = () =>
  stack.gateway.tips.live().filter((t) => t.kind === 'paddy_water' && t.field === 'paddy-1');
const keptStages = () => stack.gateway.store.documents<FieldStageDoc>('stage');

describe('a growth stage recorded on the dashboard', () => {
  it('reaches the running gateway signed, and its rules judge the paddy by it', async () => {
    const before = (await (await farmer(PATH)).json()) as FieldStageView;
    expect(before.profile?.id).toBe('rice');
    expect(before.stages.map((s) => s.id)).toContain('tillering');
    expect(before.stages.find((s) => s.id === 'tillering')!.name).toEqual({
      ja: '分げつ期',
      en: 'tillering',
    });
    expect(before.inEffect).toBeNull();
    expect(before.history).toEqual([]);

    // Without a stage, the rule cannot place the paddy (no season of weather here): no tip.
    await standingWater(stack, 6);
    await stack.gateway.tips.run(Date.now());
    expect(paddyTips()).toEqual([]);

    const today = jstDate(Date.now());
    const res = await put({ stage: 'tillering', date: today, note: '茎数 20本/株' });
    expect(res.status).toBe(200);
    const view = (await res.json()) as FieldStageView;
    expect(view.inEffect).toMatchObject({ stage: 'tillering', date: today, source: 'recorded' });
    expect(view.inEffect!.until).toBe(jstDate(Date.now() + 21 * DAY));
    expect(view.history).toHaveLength(1);
    expect(view.history[0]).toMatchObject({
      by: 'demo-farmer',
      role: 'farmer',
      note: '茎数 20本/株',
      current: true,
    });
    expect(view.downlinkVersion).toBeGreaterThan(0);
    const doc = server.ctx.downlink.get('demo-farm', 'stage', 'paddy-1')!;
    expect(doc.signature).toMatch(/^[A-Za-z0-9+/=]{80,}$/);

    // The gateway is told over its stream (it polls only every ten minutes) and keeps it.
    const kept = await eventually(() => keptStages().find((d) => d.id === 'paddy-1'), 20_000);
    expect(kept.version).toBe(view.downlinkVersion);
    expect(kept.body).toMatchObject({ farm: 'demo-farm', field: 'paddy-1', stage: 'tillering', date: today });
    await stack.gateway.tips.run(Date.now());
    const tips = paddyTips();
    expect(tips).toHaveLength(1);
    expect(tips[0]!.text.en).toContain('outside the 1.0–3.0 cm band for tillering');

    // Withdrawn: the gateway drops it, and the rule is back to the estimate it cannot make.
    const del = await farmer(PATH, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const after = (await del.json()) as FieldStageView;
    expect(after.inEffect).toBeNull();
    expect(after.history[0]!.current).toBe(false);
    await eventually(() => keptStages().length === 0, 20_000);
    await stack.gateway.tips.run(Date.now());
    expect(stack.gateway.tips.lastNotes.join('\n')).not.toMatch(/tillering/);
    // Nothing to withdraw now.
    expect((await problem(await farmer(PATH, { method: 'DELETE' }))).status).toBe(409);
  }, 60_000);

  it('is refused, placed and explained, when it does not fit the crop or the days the rules use', async () => {
    const today = Date.now();
    const cases: [unknown, string, RegExp][] = [
      [{ stage: 'jointing', date: jstDate(today) }, '/stage', /"jointing" is not a stage of/],
      [{ stage: 'V6', date: jstDate(today) }, '/stage', /not a stage/],
      [{ stage: 'tillering', date: jstDate(today + DAY) }, '/date', /in the future \(today is/],
      [
        { stage: 'tillering', date: jstDate(today - 22 * DAY) },
        '/date',
        /22 days ago: the rules use a stage for 21 days/,
      ],
    ];
    for (const [body, pointer, message] of cases) {
      const p = await problem(await put(body));
      expect(p.status, JSON.stringify(body)).toBe(400);
      expect(p.code).toBe('HATAKE_E_FIELD_STAGE');
      expect(p.pointer).toBe(pointer);
      expect(p.detail).toMatch(message);
    }
    // The list of stages the crop has is in the answer.
    const wrong = await problem(await put({ stage: 'jointing', date: jstDate(today) }));
    expect(wrong.expected).toContain('panicle_initiation');
    // 21 days ago is the oldest day taken.
    expect((await put({ stage: 'tillering', date: jstDate(today - 21 * DAY) })).status).toBe(200);
    // Nothing refused was kept: one record, the accepted one.
    const view = (await (await farmer(PATH)).json()) as FieldStageView;
    expect(view.history.filter((h) => h.current)).toHaveLength(1);
    expect(view.history.filter((h) => h.date !== jstDate(today))).toHaveLength(1);
  });

  it('refuses malformed, oversized and hostile bodies with a clear error', async () => {
    const bad: [unknown, number][] = [
      ['{"stage": "tillering", ', 400],
      [{ stage: 'tillering' }, 400],
      [{ date: jstDate(Date.now()) }, 400],
      [{ stage: 'tillering', date: '2026-02-30' }, 400],
      [{ stage: 'tillering', date: '12/03/2026' }, 400],
      [{ stage: '../../etc/passwd', date: jstDate(Date.now()) }, 400],
      [{ stage: 'tillering', date: jstDate(Date.now()), note: 'x'.repeat(201) }, 400],
      [{ stage: 'tillering', date: jstDate(Date.now()), extra: true }, 400],
      [{ stage: 'tillering', date: jstDate(Date.now()), note: 'x'.repeat(9_000_000) }, 413],
    ];
    const seqBefore = server.ctx.downlink.latestVersion('demo-farm');
    for (const [body, status] of bad) {
      const res = await put(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    }
    expect(server.ctx.downlink.latestVersion('demo-farm')).toBe(seqBefore);
  });

  it('is recorded by the farmer and the extension officer, not the IT partner or a stranger', async () => {
    const today = jstDate(Date.now());
    const officer = await signIn(url, 'demo-officer');
    const res = await put({ stage: 'midseason_drainage', date: today }, officer);
    expect(res.status).toBe(200);
    expect(((await res.json()) as FieldStageView).history[0]).toMatchObject({
      by: 'demo-officer',
      role: 'officer',
      stage: 'midseason_drainage',
    });
    const partner = await signIn(url, 'demo-partner');
    expect((await partner(PATH)).status).toBe(200); // may look
    expect((await problem(await put({ stage: 'tillering', date: today }, partner))).code).toBe(
      'HATAKE_E_FORBIDDEN',
    );
    expect((await partner(PATH, { method: 'DELETE' })).status).toBe(403);
    const anonymous = await fetch(`${url}${PATH}`, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ stage: 'tillering', date: today }),
    });
    expect(anonymous.status).toBe(401);
    // A field or farm that is not there (or not theirs) does not exist.
    expect(
      (await put({ stage: 'tillering', date: today }, farmer, PATH.replace('paddy-1', 'paddy-9'))).status,
    ).toBe(404);
    expect(
      (await put({ stage: 'tillering', date: today }, farmer, PATH.replace('demo-farm', 'other-farm')))
        .status,
    ).toBe(404);
    // The officer's record is the one in effect.
    const view = (await (await farmer(PATH)).json()) as FieldStageView;
    expect(view.inEffect).toMatchObject({ stage: 'midseason_drainage', source: 'recorded' });
  });
});
