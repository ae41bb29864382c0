// An officer's edited approval reaches the farm's gateway with the edited totals: a real SBNRC
// recommendation made for the demo wheat field goes up from a registered gateway's outbox, the
// officer types 3 kg/10a (30 kg N/ha) for a zone — set to 29.9 on the spreader step — and
// approves; the document the server publishes down (over the real SSE downlink, signed and
// verified) carries totals at the applied rates, the same kg N the officer's page, the farmer's
// API and the prescription tip give, and the gateway's status shows them, not the original ones.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { GatewayStatus } from '../../gateway/http.ts';
import { Recommendation } from '../../protocol/recommendation.ts';
import type { ApprovedRecommendation, EditResult, ReviewDetail, TipView } from '../../protocol/review.ts';
import { validator } from '../../protocol/validate.ts';
import { demoRecommendation } from '../helpers/recommendation.ts';
import { eventually, signIn, startRegisteredStack, type Stack } from '../helpers/stack.ts';

let dir: string;
let server: HatakeServer;
let url: string;
let stack: Stack;
let close: () => Promise<void>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-review-totals-'));
  ({ server, url, stack, close } = await startRegisteredStack(dir, 'gw-totals'));
}, 60_000);
afterAll(async () => {
  await close?.();
  rmSync(dir, { recursive: true, force: true });
});

const round2 = (v: number) => Math.round(v * 100) / 100;

describe('an approval with edits, down to the gateway', () => {
  it('publishes totals at the edited rates, and the gateway shows them', async () => {
    const rec = await demoRecommendation(Date.now() - 3_600_000);
    const gw = stack.gateway;
    gw.store.enqueue('recommendation', rec, Date.now());
    const officer = await signIn(url, 'demo-officer');
    const farmer = await signIn(url, 'demo-farmer');
    const detail = await eventually(async () => {
      const res = await officer(`/api/v1/reviews/${rec.id}`);
      return res.status === 200 ? ((await res.json()) as ReviewDetail) : undefined;
    }, 20_000);
    expect(detail.economics.recommended.nKg).toBe(rec.totals.nKg);

    // The officer types 3 kg/10a for zone 2: 30 kg N/ha of urea (46 % N) on a 5 kg step.
    const z2 = rec.zones[1]!;
    expect(z2.rate.kgNHa).not.toBe(29.9);
    const editRes = await officer(`/api/v1/reviews/${rec.id}/edit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        zones: [{ zone: z2.id, kgNHa: 30 }],
        reason: '葉色が淡い',
        revision: detail.revision,
      }),
    });
    expect(editRes.status, await editRes.clone().text()).toBe(200);
    const edit = (await editRes.json()) as EditResult;
    expect(edit.zones).toEqual([
      { zone: z2.id, requestedKgNHa: 30, kgNHa: 29.9, productKgHa: 65, clamped: null },
    ]);
    const applied = rec.zones.map((z) => (z.id === z2.id ? { kgNHa: 29.9, productKgHa: 65 } : z.rate));
    const nKg = round2(rec.zones.reduce((s, z, i) => s + applied[i]!.kgNHa * z.areaHa, 0));
    const productKg = round2(rec.zones.reduce((s, z, i) => s + applied[i]!.productKgHa * z.areaHa, 0));
    expect(nKg).not.toBe(rec.totals.nKg);
    // the stored document follows the edit; the recommended economics stay the recommendation's
    expect(edit.review.recommendation.totals).toMatchObject({ nKg, productKg, areaHa: rec.totals.areaHa });
    expect(edit.review.economics.applied).toMatchObject({ nKg, productKg });
    expect(edit.review.economics.recommended).toMatchObject({
      nKg: rec.totals.nKg,
      productKg: rec.totals.productKg,
      costYen: rec.totals.costYen,
      gainYen: rec.totals.gainYen,
      marginYen: rec.totals.marginYen,
    });

    const approveRes = await officer(`/api/v1/reviews/${rec.id}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ revision: edit.review.revision }),
    });
    expect(approveRes.status, await approveRes.clone().text()).toBe(200);
    const approved = (await approveRes.json()) as ReviewDetail;
    expect(approved.economics.recommended.nKg).toBe(rec.totals.nKg);
    expect(approved.economics.applied.nKg).toBe(nKg);

    // the document published down: valid, approved, with the edited zone and the edited totals
    const down = validator(Recommendation).parse(
      server.ctx.downlink.get('demo-farm', 'recommendation', rec.id)!.body,
      'downlink',
    );
    expect(down.status).toBe('approved');
    expect(down.zones[1]!.edited).toMatchObject({ kgNHa: 29.9, productKgHa: 65 });
    expect(down.totals).toMatchObject({ nKg, productKg, areaHa: rec.totals.areaHa });
    expect(down.totals.costYen).toBe(approved.economics.applied.costYen);
    if (approved.economics.applied.gainYen !== null) {
      expect(down.totals.gainYen).toBe(approved.economics.applied.gainYen);
      expect(down.totals.marginYen).toBe(approved.economics.applied.marginYen);
    }

    // the farmer's API, the full document and the prescription tip say the same
    const [item] = (await (await farmer('/api/v1/recommendations')).json()) as ApprovedRecommendation[];
    expect(item!.totals).toEqual({ areaHa: rec.totals.areaHa, nKg, productKg });
    const one = (await (await farmer(`/api/v1/recommendations/${rec.id}`)).json()) as {
      recommendation: Recommendation;
    };
    expect(one.recommendation.totals).toEqual(down.totals);
    const tips = (await (await farmer('/api/v1/tips')).json()) as TipView[];
    const tip = tips.find(
      (v) => v.tip.action?.type === 'fertilize' && v.tip.action.recommendation === rec.id,
    );
    expect(tip!.tip.evidence.quantities.find((q) => q.name === 'total_n')!.value).toBe(nKg);

    // the gateway applied the decision and shows the edited total
    const shown = await eventually(
      () => gw.status().recommendations.find((r) => r.id === rec.id && r.status === 'approved'),
      20_000,
    );
    expect(shown).toEqual({ id: rec.id, field: 'upland-1', status: 'approved', totalNKg: nKg });
    const base = `http://127.0.0.1:${gw.httpPort}`;
    const status = (await (await fetch(`${base}/api/status`)).json()) as GatewayStatus;
    expect(status.recommendations.find((r) => r.id === rec.id)?.totalNKg).toBe(nKg);
    const page = await (await fetch(`${base}/?lang=ja`)).text();
    expect(page).toContain(`<b>畑1号（小麦） <small>upland-1</small></b>: 承認済み<br>合計 N ${nKg} kg・`);
    expect(page).not.toContain(`N ${rec.totals.nKg} kg`);
    // its event says the decision was received, and which: not that a recommendation was "applied"
    const received = status.events.find(
      (e) => e.type === 'downlink_applied' && e.detail?.kind === 'recommendation' && e.detail.id === rec.id,
    );
    expect(received?.detail).toMatchObject({ status: 'approved' });
    expect(page).toContain('の審査結果「承認済み」を受け取りました');
  });
});
