// The extension officer's review, end to end over real HTTP: a recommendation made by the real
// edge/recommend (ONNX in a worker) arrives in a gateway's sync batch as pending review; the
// officer of the farm's region edits a zone's rate (held to the crop profile's limits and the
// spreader step) and approves; the farmer sees it only then, with the edited rates, in every
// prescription format (read back with the isoxml package and shpjs); the audit log holds each
// step and refuses to be changed; an officer of another region can neither see nor act; newer
// recommendations supersede older ones (each naming the one that replaced it); the queue counts
// the inputs that were stale; auto-approval and the CSV of decisions.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import isoxml from 'isoxml';
// @ts-expect-error shpjs ships no type declarations
import shp from 'shpjs';
import JSZip from 'jszip';
import { parse as parseCsv } from 'csv-parse/sync';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { SyncBatch, SyncItem } from '../../protocol/sync.ts';
import { Recommendation } from '../../protocol/recommendation.ts';
import { Tip } from '../../protocol/tip.ts';
import type {
  ApprovedRecommendation,
  AuditEntry,
  ReviewDetail,
  ReviewQueueItem,
  TipView,
} from '../../protocol/review.ts';
import { validator } from '../../protocol/validate.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { MG_M2_PER_KG_HA } from '../../edge/prescriptions/isoxml.ts';
import { ARTIFACTS_DIR, PROFILES_DIR } from '../../models/paths.ts';
import Database from 'better-sqlite3';
import { verifyAuditChain } from '../../dashboard/review/audit.ts';
import { pointerTokens } from '../../protocol/pointer.ts';
import { migrateReview } from '../../dashboard/review/schema.ts';
import { demoManifest, eventually, signIn, startServer } from '../helpers/stack.ts';

process.env.HATAKE_WEBHOOK_ALLOW_PRIVATE = '1'; // the webhook receiver below listens on 127.0.0.1

const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR], profileDirs: [PROFILES_DIR] });
const MODEL = 'rice-pi-topdress-ndvi';
const NDRE_MODEL = 'rice-pi-topdress-ndre';
let pool: InferencePool;
let server: HatakeServer;
let url: string;
let dir: string;
const tokens: Record<string, string> = {};
const seqs: Record<string, number> = {};
type Fetch = Awaited<ReturnType<typeof signIn>>;
let farmer: Fetch;
let officer: Fetch;
let partner: Fetch;
let otherOfficer: Fetch;
let otherFarmer: Fetch;

const DAY = 86_400_000;
const T0 = Date.parse('2026-07-22T00:00:00Z');
const ring = (x0: number, y0: number, x1: number, y1: number) => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
  [x0, y0],
];

/** A rice top-dressing recommendation made by the real model (NDVI per zone → SPAD → the Niigata chart). */
async function makeRec(
  opts: {
    farm?: string;
    field?: string;
    now?: number;
    ndvi?: number[];
    areaHa?: number;
    /** Another model of the registry; its `vi` input is the zone's NDRE when it is given. */
    model?: string;
    ndre?: number[];
  } = {},
) {
  const ndvi = opts.ndvi ?? [0.7, 0.75, 0.8];
  const field = opts.field ?? 'paddy-1';
  const [X0, Y0, DX, DY] = [138.9, 37.8, 0.0004, 0.0003];
  return recommend(pool, {
    farm: opts.farm ?? 'demo-farm',
    field,
    card: reg.entry(opts.model ?? MODEL).card,
    profile: reg.profile('rice-shinnosuke-niigata'),
    zones: {
      type: 'FeatureCollection',
      features: ndvi.map((v, k) => ({
        type: 'Feature',
        id: `${field}-z${k + 1}`,
        geometry: {
          type: 'MultiPolygon',
          coordinates: [[ring(X0 + k * DX, Y0, X0 + (k + 1) * DX, Y0 + DY)]],
        },
        properties: {
          fieldId: field,
          sceneId: 'S2B_20260720',
          acquired: '2026-07-20T01:30:00Z',
          zone: k + 1,
          areaHa: opts.areaHa ?? 0.1,
          validFraction: 1,
          indices: {
            ndvi: { mean: v },
            ...(opts.ndre ? { ndre: { mean: opts.ndre[k]! } } : {}),
          },
          attributes: { plant_height_cm: 64, stems_per_m2: 400 },
        },
      })),
    },
    now: opts.now ?? T0,
    by: 'gateway gw-1',
  });
}

type Unsequenced = { [K in SyncItem['kind']]: Omit<Extract<SyncItem, { kind: K }>, 'seq'> }[SyncItem['kind']];

async function sync(gateway: string, items: Unsequenced[]) {
  const first = (seqs[gateway] ?? 0) + 1;
  seqs[gateway] = first + items.length - 1;
  return sendBatch(gateway, {
    gateway,
    seqFrom: first,
    seqTo: seqs[gateway]!,
    sentAt: Date.now(),
    items: items.map((it, i) => ({ ...it, seq: first + i }) as SyncItem),
  });
}

async function sendBatch(gateway: string, batch: SyncBatch) {
  const res = await fetch(`${url}/api/v1/sync`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${tokens[gateway]}`,
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    },
    body: new Uint8Array(gzipSync(JSON.stringify(batch))),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return batch;
}

const post = (f: Fetch, path: string, body: unknown) =>
  f(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const json = async <T>(res: Response | Promise<Response>, status = 200): Promise<T> => {
  const r = await res;
  const text = await r.text();
  expect(r.status, text).toBe(status);
  return JSON.parse(text) as T;
};

const otherManifest: Manifest = {
  farm: { id: 'hok-farm', name: '北の農場', region: 'hokkaido', timezone: 'Asia/Tokyo' },
  fields: [{ id: 'paddy-9', name: '田んぼ9', crop: 'rice' }],
  devices: [],
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-review-'));
  pool = await InferencePool.start({ size: 1 });
  await pool.load(reg.load(`${MODEL}@1.1.0`));
  await pool.load(reg.load(`${NDRE_MODEL}@1.1.0`)); // another model, for auto-approval's model match
  ({ server, url } = await startServer(dir));
  tokens['gw-1'] = server.ctx.auth.issueGatewayToken('gw-1', 'demo-farm');
  tokens['gw-9'] = server.ctx.auth.issueGatewayToken('gw-9', 'hok-farm');
  await server.ctx.auth.createUser('other-officer', 'other-password-1', 'officer', { regions: ['hokkaido'] });
  await server.ctx.auth.createUser('other-farmer', 'other-password-1', 'farmer', { farms: ['hok-farm'] });
  await sync('gw-1', [{ kind: 'manifest', body: demoManifest() }]);
  await sync('gw-9', [{ kind: 'manifest', body: otherManifest }]);
  farmer = await signIn(url, 'demo-farmer');
  officer = await signIn(url, 'demo-officer');
  partner = await signIn(url, 'demo-partner');
  otherOfficer = await signIn(url, 'other-officer', 'other-password-1');
  otherFarmer = await signIn(url, 'other-farmer', 'other-password-1');
});
afterAll(async () => {
  await pool?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The farmer's open `prescription` tips that lead to one recommendation. */
async function prescriptionTips(who: Fetch, recId: string): Promise<TipView[]> {
  const tips = await json<TipView[]>(who('/api/v1/tips'));
  return tips.filter(
    (v) =>
      v.tip.kind === 'prescription' &&
      v.tip.action?.type === 'fertilize' &&
      v.tip.action.recommendation === recId,
  );
}

describe('a recommendation from the gateway through review', () => {
  it('walks pending → edited → approved; the farmer sees it only after approval, with the edited rates; the audit log holds each step', async () => {
    const rec = await makeRec();
    expect(validator(Recommendation).problems(rec)).toEqual([]);
    const changes: { farm: string; kind: string; id: string }[] = [];
    server.ctx.live.on('change', (e) => changes.push(e));
    await sync('gw-1', [{ kind: 'recommendation', body: rec }]);

    // pending: invisible to the farm's people, visible to the region's officer
    expect(await json(farmer('/api/v1/recommendations'))).toEqual([]);
    expect(await prescriptionTips(farmer, rec.id)).toEqual([]);
    expect((await farmer(`/api/v1/recommendations/${rec.id}`)).status).toBe(404);
    expect((await farmer(`/api/v1/recommendations/${rec.id}/prescription/csv`)).status).toBe(404);
    expect((await farmer('/api/v1/reviews')).status).toBe(403);
    expect((await farmer(`/api/v1/reviews/${rec.id}`)).status).toBe(403);
    expect((await partner('/api/v1/recommendations')).status).toBe(403);
    const queue = await json<ReviewQueueItem[]>(officer('/api/v1/reviews'));
    expect(queue.map((q) => q.id)).toContain(rec.id);
    expect(queue.find((q) => q.id === rec.id)).toMatchObject({
      status: 'pending_review',
      farm: 'demo-farm',
      farmName: 'はたけデモ農場',
      region: 'niigata',
      field: 'paddy-1',
      fieldName: '田んぼ1号（コシヒカリ）',
      zones: 3,
      model: { id: MODEL, version: '1.1.0' },
    });

    // an officer of another region: nothing, not even that it exists
    expect(await json(otherOfficer('/api/v1/reviews'))).toEqual([]);
    for (const res of [
      await otherOfficer(`/api/v1/reviews/${rec.id}`),
      await post(otherOfficer, `/api/v1/reviews/${rec.id}/approve`, {}),
      await post(otherOfficer, `/api/v1/reviews/${rec.id}/edit`, {
        zones: [{ zone: 'paddy-1-z1', kgNHa: 5 }],
        reason: 'not mine',
      }),
      await post(otherOfficer, `/api/v1/reviews/${rec.id}/reject`, { reason: 'not mine' }),
    ]) {
      expect(res.status).toBe(404);
      expect(await res.text()).not.toContain('paddy-1');
    }

    // the detail view
    const detail = await json<ReviewDetail>(officer(`/api/v1/reviews/${rec.id}`));
    expect(detail.status).toBe('pending_review');
    expect(detail.farm).toEqual({ id: 'demo-farm', name: 'はたけデモ農場', region: 'niigata' });
    expect(detail.zones.map((z) => z.applied.kgNHa)).toEqual(rec.zones.map((z) => z.rate.kgNHa));
    expect(detail.zones[0]!.applied.kgN10a).toBeCloseTo(rec.zones[0]!.rate.kgNHa / 10, 6);
    expect(detail.model.cardStatus).toBe('matches');
    expect(detail.model.card!.id).toBe(MODEL);
    expect(detail.model.card!.fitted.status).toBe('provisional');
    expect(detail.limits).toEqual({
      profile: 'rice-shinnosuke-niigata@1.0.0',
      minKgNHa: 0,
      maxKgNHa: 30,
      stepKgProductHa: 5,
      nFraction: 0.21,
    });
    expect(detail.imagery).toEqual({
      sceneId: 'S2B_20260720',
      acquired: '2026-07-20T01:30:00.000Z',
      index: 'ndvi',
      ageDaysAtCreation: 1.9,
      stale: false,
    });
    const vi = detail.inputs.filter((i) => i.name === 'vi');
    expect(vi).toHaveLength(3);
    expect(vi[0]).toMatchObject({
      category: 'imagery',
      zones: ['paddy-1-z1'],
      ageHoursAtCreation: 46.5,
      stale: false,
    });
    expect(detail.economics.recommended).toMatchObject({ nKg: rec.totals.nKg, costYen: rec.totals.costYen });
    expect(detail.audit.map((a) => a.action)).toEqual(['received']);

    // edit two zones: one rounded to the spreader step, one clamped to the profile maximum
    const edit = await json<{
      review: ReviewDetail;
      zones: { zone: string; kgNHa: number; productKgHa: number; clamped: string | null }[];
    }>(
      post(officer, `/api/v1/reviews/${rec.id}/edit`, {
        zones: [
          { zone: 'paddy-1-z1', kgNHa: 20 },
          { zone: 'paddy-1-z3', kgNHa: 99 },
        ],
        reason: '圃場巡回で葉色が淡い / leaves pale on the field walk',
        revision: detail.revision,
      }),
    );
    // 20 kg N/ha of ammonium sulfate (21 % N) on a 5 kg step: 95 kg product = 19.95 kg N
    expect(edit.zones).toEqual([
      { zone: 'paddy-1-z1', requestedKgNHa: 20, kgNHa: 19.95, productKgHa: 95, clamped: null },
      { zone: 'paddy-1-z3', requestedKgNHa: 99, kgNHa: 29.4, productKgHa: 140, clamped: 'max' },
    ]);
    expect(edit.review.status).toBe('edited');
    expect(edit.review.zones.map((z) => z.applied.kgNHa)).toEqual([19.95, rec.zones[1]!.rate.kgNHa, 29.4]);
    expect(edit.review.zones[0]!.recommended.kgNHa).toBe(rec.zones[0]!.rate.kgNHa);
    expect(edit.review.zones[0]!.edited).toMatchObject({ by: 'demo-officer' });
    expect(edit.review.economics.applied.nKg).toBeCloseTo(0.1 * (19.95 + rec.zones[1]!.rate.kgNHa + 29.4), 1);
    // the document's totals follow the edit; the recommended economics stay the gateway's
    const editedN =
      Math.round(rec.zones.reduce((s, z, i) => s + [19.95, z.rate.kgNHa, 29.4][i]! * z.areaHa, 0) * 100) /
      100;
    const editedProduct =
      Math.round(rec.zones.reduce((s, z, i) => s + [95, z.rate.productKgHa, 140][i]! * z.areaHa, 0) * 100) /
      100;
    expect(editedN).not.toBe(rec.totals.nKg);
    expect(edit.review.economics.applied).toMatchObject({ nKg: editedN, productKg: editedProduct });
    expect(edit.review.recommendation.totals).toMatchObject({ nKg: editedN, productKg: editedProduct });
    expect(edit.review.economics.recommended).toEqual({
      nKg: rec.totals.nKg,
      productKg: rec.totals.productKg,
      costYen: rec.totals.costYen,
      gainYen: rec.totals.gainYen,
      marginYen: rec.totals.marginYen,
    });
    // still invisible to the farmer
    expect(await json(farmer('/api/v1/recommendations'))).toEqual([]);

    // a decision on a stale view is refused
    const stale = await post(officer, `/api/v1/reviews/${rec.id}/approve`, { revision: detail.revision });
    expect(stale.status).toBe(409);
    expect((await stale.json()).code).toBe('HATAKE_E_STATE_CONFLICT');

    const approved = await json<ReviewDetail>(
      post(officer, `/api/v1/reviews/${rec.id}/approve`, {
        note: '確認済み',
        revision: edit.review.revision,
      }),
    );
    expect(approved.status).toBe('approved');
    expect(approved.recommendation.history.map((h) => h.status)).toEqual([
      'pending_review',
      'edited',
      'approved',
    ]);

    // decided: no second decision
    expect(
      (await post(officer, `/api/v1/reviews/${rec.id}/reject`, { reason: 'changed my mind' })).status,
    ).toBe(409);
    expect(
      (
        await post(officer, `/api/v1/reviews/${rec.id}/edit`, {
          zones: [{ zone: 'paddy-1-z2', kgNHa: 3 }],
          reason: 'later',
        })
      ).status,
    ).toBe(409);

    // the audit log: who, when, what changed, why
    const audit = approved.audit;
    expect(audit.map((a) => [a.action, a.actor, a.fromStatus, a.toStatus])).toEqual([
      ['received', 'gateway gw-1', null, 'pending_review'],
      ['edited', 'demo-officer', 'pending_review', 'edited'],
      ['approved', 'demo-officer', 'edited', 'approved'],
    ]);
    expect(audit[1]!.reason).toBe('圃場巡回で葉色が淡い / leaves pale on the field walk');
    expect(audit[1]!.changes).toContainEqual({
      path: '/zones/paddy-1-z1/kgNHa',
      from: rec.zones[0]!.rate.kgNHa,
      to: 19.95,
      requested: 20,
    });
    expect(audit[1]!.changes).toContainEqual({
      path: '/zones/paddy-1-z3/productKgHa',
      from: rec.zones[2]!.rate.productKgHa,
      to: 140,
    });
    expect(audit[2]!.reason).toBe('確認済み');
    expect(Date.parse(audit[2]!.at)).toBeGreaterThanOrEqual(Date.parse(audit[1]!.at));

    // the decision went down to the farm's gateways, with the edited rates
    const down = server.ctx.downlink.get('demo-farm', 'recommendation', rec.id)!;
    const sent = validator(Recommendation).parse(down.body, 'downlink');
    expect(sent.status).toBe('approved');
    expect(sent.zones[0]!.edited).toMatchObject({ kgNHa: 19.95, productKgHa: 95, by: 'demo-officer' });
    // …and with the totals at those rates (what a gateway's status page shows), not the gateway's own
    expect(sent.totals).toMatchObject({ areaHa: rec.totals.areaHa, nKg: editedN, productKg: editedProduct });
    expect(sent.totals).toMatchObject({
      costYen: approved.economics.applied.costYen,
      gainYen: approved.economics.applied.gainYen,
      marginYen: approved.economics.applied.marginYen,
    });
    expect(approved.economics.recommended.nKg).toBe(rec.totals.nKg);

    // browsers were told: officers' pages on every step, farmers' when it was approved
    await eventually(() => changes.some((c) => c.kind === 'recommendation'));
    expect(changes.filter((c) => c.id === rec.id).map((c) => c.kind)).toEqual([
      'review',
      'review',
      'recommendation',
      'review',
    ]);

    // now the farmer sees it, with the edited rates
    const list = await json<ApprovedRecommendation[]>(farmer('/api/v1/recommendations'));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: rec.id, approvedBy: 'demo-officer', autoApproved: false });
    expect(list[0]!.totals).toEqual({ areaHa: rec.totals.areaHa, nKg: editedN, productKg: editedProduct });
    expect(list[0]!.zones.map((z) => [z.rate.kgNHa, z.rate.kgN10a, z.rate.productKgHa, z.edited])).toEqual([
      [19.95, 1.995, 95, true],
      [rec.zones[1]!.rate.kgNHa, rec.zones[1]!.rate.kgN10a, rec.zones[1]!.rate.productKgHa, false],
      [29.4, 2.94, 140, true],
    ]);
    expect(list[0]!.zones[0]!.reason).toMatch(/leaves pale/);

    // …and hears of it as a tip that leads to the prescription, with the officer's rates
    const [tip, ...more] = await prescriptionTips(farmer, rec.id);
    expect(more).toEqual([]);
    const rates = [19.95, rec.zones[1]!.rate.kgNHa, 29.4];
    const areas = rec.zones.map((z) => z.areaHa);
    const meanHa = rates.reduce((s, r, i) => s + r * areas[i]!, 0) / areas.reduce((s, a) => s + a, 0);
    expect(tip).toMatchObject({
      state: 'open',
      tip: {
        kind: 'prescription',
        severity: 'advisory',
        field: 'paddy-1',
        action: { type: 'fertilize', field: 'paddy-1', recommendation: rec.id },
      },
    });
    expect(validator(Tip).problems(tip!.tip)).toEqual([]);
    expect(tip!.tip.title.ja).toContain('田んぼ1号（コシヒカリ）');
    expect(tip!.tip.text.ja).toContain(`平均 ${(Math.round(meanHa) / 10).toFixed(1)} kg N/10a`);
    expect(tip!.tip.text.en).toMatch(/^Approved by an extension officer\./);
    const q = Object.fromEntries(tip!.tip.evidence.quantities.map((x) => [x.name, x.value]));
    expect(q.mean_rate).toBeCloseTo(meanHa, 1);
    expect(q.total_n).toBe(editedN);
    expect(q.max_rate).toBe(29.4);
    expect(await prescriptionTips(otherFarmer, rec.id)).toEqual([]);
    const one = await json<ApprovedRecommendation & { recommendation: unknown }>(
      farmer(`/api/v1/recommendations/${rec.id}`),
    );
    expect(validator(Recommendation).check(one.recommendation)).toBe(true);
    expect((one.recommendation as Recommendation).totals).toEqual(sent.totals);
    expect((await otherFarmer(`/api/v1/recommendations/${rec.id}`)).status).toBe(404);
    expect((await partner(`/api/v1/recommendations/${rec.id}`)).status).toBe(403);

    // the append-only log refuses changes, and its hash chain holds
    expect(() => server.ctx.db.prepare(`UPDATE review_audit SET reason = 'forged'`).run()).toThrow(
      /append-only/,
    );
    expect(() => server.ctx.db.prepare('DELETE FROM review_audit').run()).toThrow(/append-only/);
    expect(verifyAuditChain(server.ctx.db)).toMatchObject({ ok: true });
  });

  it('serves the approved prescription in every format with the edited rates, a proper type and a safe file name', async () => {
    const [item] = await json<ApprovedRecommendation[]>(farmer('/api/v1/recommendations'));
    const want = item!.zones.map((z) => z.rate.productKgHa);
    expect(want).toContain(95);

    const iso = await farmer(item!.downloads.isoxml);
    expect(iso.status).toBe(200);
    expect(iso.headers.get('content-type')).toBe('application/zip');
    expect(iso.headers.get('content-disposition')).toMatch(
      /^attachment; filename="paddy-1-rec-[a-z0-9-]+-isoxml\.zip"$/,
    );
    const m = new isoxml.ISOXMLManager();
    await m.parseISOXMLFile(new Uint8Array(await iso.arrayBuffer()), 'application/zip');
    const task = m.rootElement.attributes.Task![0]!;
    const cells = (
      task as never as { getGridAsGeoJSON(p: string[]): { features: { properties: { rate: number } }[] } }
    ).getGridAsGeoJSON(['rate']).features;
    expect(new Set(cells.map((c) => c.properties.rate / MG_M2_PER_KG_HA).filter((r) => r > 0))).toEqual(
      new Set(want),
    );

    const shz = await farmer(item!.downloads.shp);
    expect(shz.headers.get('content-type')).toBe('application/zip');
    expect(shz.headers.get('content-disposition')).toMatch(/filename="paddy-1-rec-[a-z0-9-]+-shp\.zip"$/);
    const buf = await shz.arrayBuffer();
    expect(Object.keys((await JSZip.loadAsync(buf)).files).sort()).toEqual([
      'RX.dbf',
      'RX.prj',
      'RX.shp',
      'RX.shx',
    ]);
    const back = (await shp(buf)) as {
      features: { properties: { RATE: number; N_KGHA: number; ZONE: number } }[];
    };
    expect(back.features.map((f) => f.properties.RATE)).toEqual(want);
    expect(back.features[0]!.properties.N_KGHA).toBeCloseTo(19.95, 6);

    const gj = await farmer(item!.downloads.geojson);
    expect(gj.headers.get('content-type')).toBe('application/geo+json; charset=utf-8');
    const fc = (await gj.json()) as { features: { properties: { productKgHa: number; kgNHa: number } }[] };
    expect(fc.features.map((f) => f.properties.productKgHa)).toEqual(want);

    const csv = await farmer(item!.downloads.csv);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('x-content-type-options')).toBe('nosniff');
    const rows = (await csv.text())
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    expect(rows.map((r) => Number(r[6]))).toEqual(want);
    expect(Number(rows[0]![3])).toBeCloseTo(19.95, 6);

    expect((await farmer(`/api/v1/recommendations/${item!.id}/prescription/kml`)).status).toBe(400);
    expect((await farmer(`/api/v1/recommendations/..%2F..%2Fetc/prescription/csv`)).status).toBe(400);
  });

  it('keeps a recommendation pending whatever status the gateway claims, and a resent batch changes nothing', async () => {
    const rec = await makeRec({ field: 'upland-1', now: T0 + 1000, ndvi: [0.72, 0.78] });
    rec.status = 'approved';
    rec.zones[0]!.edited = { kgNHa: 30, productKgHa: 140, by: 'gateway', at: T0, reason: 'self-approved' };
    const batch = await sync('gw-1', [{ kind: 'recommendation', body: rec }]);
    const detail = await json<ReviewDetail>(officer(`/api/v1/reviews/${rec.id}`));
    expect(detail.status).toBe('pending_review');
    expect(detail.zones[0]!.edited).toBeNull();
    expect(detail.audit[0]!.reason).toMatch(
      /gateway sent status "approved" with zone edits; set to pending_review/,
    );
    expect(
      (await json<ApprovedRecommendation[]>(farmer('/api/v1/recommendations'))).map((r) => r.id),
    ).not.toContain(rec.id);

    const before = (server.ctx.db.prepare('SELECT COUNT(*) AS n FROM review_audit').get() as { n: number }).n;
    await sendBatch('gw-1', batch);
    expect((server.ctx.db.prepare('SELECT COUNT(*) AS n FROM review_audit').get() as { n: number }).n).toBe(
      before,
    );
    expect((await json<ReviewDetail>(officer(`/api/v1/reviews/${rec.id}`))).revision).toBe(detail.revision);
  });

  it('supersedes older undecided recommendations of a field by a newer one, also when they arrive out of order', async () => {
    const older = await makeRec({ field: 'upland-1', now: T0 + 2000, ndvi: [0.7, 0.7] });
    const newer = await makeRec({ field: 'upland-1', now: T0 + 3000, ndvi: [0.8, 0.8] });
    const oldest = await makeRec({ field: 'upland-1', now: T0 + 1500, ndvi: [0.75, 0.75] });
    await sync('gw-1', [{ kind: 'recommendation', body: older }]);
    await sync('gw-1', [{ kind: 'recommendation', body: newer }]);
    await sync('gw-1', [{ kind: 'recommendation', body: oldest }]);
    const open = (await json<ReviewQueueItem[]>(officer('/api/v1/reviews'))).filter(
      (q) => q.field === 'upland-1',
    );
    expect(open.map((q) => q.id)).toEqual([newer.id]);
    const sup = await json<ReviewDetail>(officer(`/api/v1/reviews/${older.id}`));
    expect(sup.status).toBe('superseded');
    expect(sup.audit.at(-1)).toMatchObject({
      action: 'superseded',
      actor: 'system',
      reason: expect.stringContaining(newer.id),
    });
    expect((await json<ReviewDetail>(officer(`/api/v1/reviews/${oldest.id}`))).status).toBe('superseded');
    // Each superseded one names the recommendation that replaced it (the one arriving late, too);
    // the open one names none.
    expect(sup.supersededBy).toBe(newer.id);
    expect((await json<ReviewDetail>(officer(`/api/v1/reviews/${oldest.id}`))).supersededBy).toBe(newer.id);
    expect((await json<ReviewDetail>(officer(`/api/v1/reviews/${newer.id}`))).supersededBy).toBeNull();
    expect((await post(officer, `/api/v1/reviews/${older.id}/approve`, {})).status).toBe(409);
    const superseded = (await json<ReviewQueueItem[]>(officer('/api/v1/reviews?status=superseded'))).map(
      (q) => q.id,
    );
    expect(superseded).toEqual(expect.arrayContaining([older.id, oldest.id]));
    expect(superseded).not.toContain(newer.id);
  });

  it('names the newer recommendation on one superseded before the column existed, from its history (migration)', () => {
    const db = new Database(':memory:');
    try {
      migrateReview(db);
      // The database as it was one migration earlier: no superseded_by column.
      db.exec('ALTER TABLE review_recommendations DROP COLUMN superseded_by');
      db.prepare(`UPDATE schema_versions SET version = version - 1 WHERE name = 'review'`).run();
      const insert = db.prepare(
        `INSERT INTO review_recommendations (farm, id, field, crop, status, model, created_at, received_at, gateway, area_ha, doc, original)
         VALUES ('f', ?, 'p', 'rice', ?, 'm@1.0.0', 0, 0, 'gw', 1, ?, '{}')`,
      );
      const doc = (history: { status: string; note?: string }[]) =>
        JSON.stringify({ history: history.map((h, i) => ({ ...h, at: i, by: 'system' })) });
      insert.run(
        'rec-old',
        'superseded',
        doc([{ status: 'pending_review' }, { status: 'superseded', note: 'superseded by rec-new' }]),
      );
      insert.run('rec-new', 'pending_review', doc([{ status: 'pending_review' }]));
      insert.run('rec-odd', 'superseded', doc([{ status: 'superseded', note: 'by hand' }]));
      migrateReview(db);
      expect(db.prepare('SELECT id, superseded_by FROM review_recommendations ORDER BY id').all()).toEqual([
        { id: 'rec-new', superseded_by: null },
        { id: 'rec-odd', superseded_by: null },
        { id: 'rec-old', superseded_by: 'rec-new' },
      ]);
    } finally {
      db.close();
    }
  });

  it('counts in the queue what was stale when each recommendation was made, as the detail marks it', async () => {
    // A scene 1.9 days old when made; then one made 13.9 days after its scene, with a soil sensor's
    // reading 30 hours old beside it (stale after 24 h) — and its scene read once per zone.
    const fresh = await makeRec({ field: 'fresh-1', now: T0 + 60_000, ndvi: [0.7, 0.75] });
    const stale = await makeRec({ field: 'stale-1', now: T0 + 12 * DAY, ndvi: [0.7, 0.75, 0.8] });
    stale.inputs.push({
      name: 'soil_vwc',
      value: 0.31,
      unit: 'm3/m3',
      source: 'sensor soil-1/soil_vwc',
      time: stale.createdAt - 30 * 3_600_000,
    });
    await sync('gw-1', [
      { kind: 'recommendation', body: fresh },
      { kind: 'recommendation', body: stale },
    ]);
    const queue = await json<ReviewQueueItem[]>(officer('/api/v1/reviews'));
    const item = (id: string) => queue.find((q) => q.id === id)!;
    expect(item(fresh.id).staleInputs).toBe(0);
    expect(item(stale.id).staleInputs).toBe(2);
    // The detail marks the same: the scene (three zones' readings of it) and the sensor.
    const detail = await json<ReviewDetail>(officer(`/api/v1/reviews/${stale.id}`));
    expect(detail.imagery.stale).toBe(true);
    const marked = detail.inputs.filter((i) => i.stale);
    expect(marked.filter((i) => i.category === 'imagery').length).toBe(3);
    expect(marked.filter((i) => i.category !== 'imagery').map((i) => i.name)).toEqual(['soil_vwc']);
    expect(
      (await json<ReviewDetail>(officer(`/api/v1/reviews/${fresh.id}`))).inputs.some((i) => i.stale),
    ).toBe(false);
  });

  it('orders the queue oldest day first and, within a day, the largest field first', async () => {
    const small = await makeRec({
      farm: 'hok-farm',
      field: 'paddy-9',
      now: T0 - 2 * DAY,
      areaHa: 0.05,
      ndvi: [0.7],
    });
    const fields = ['a-1', 'a-2', 'a-3'];
    const recs = [
      await makeRec({ farm: 'hok-farm', field: fields[0], now: T0 - DAY + 1000, areaHa: 0.2, ndvi: [0.7] }),
      await makeRec({ farm: 'hok-farm', field: fields[1], now: T0 - DAY + 2000, areaHa: 2, ndvi: [0.7] }),
      await makeRec({ farm: 'hok-farm', field: fields[2], now: T0 - DAY + 3000, areaHa: 1, ndvi: [0.7] }),
    ];
    await sync(
      'gw-9',
      [...recs, small].map((body) => ({ kind: 'recommendation' as const, body })),
    );
    const q = await json<ReviewQueueItem[]>(otherOfficer('/api/v1/reviews'));
    expect(q.map((x) => x.field)).toEqual(['paddy-9', 'a-2', 'a-3', 'a-1']);
    expect(q.every((x) => x.farm === 'hok-farm')).toBe(true);
    // and the demo officer sees none of them
    expect(
      (await json<ReviewQueueItem[]>(officer('/api/v1/reviews'))).some((x) => x.farm === 'hok-farm'),
    ).toBe(false);
    expect((await json<ReviewQueueItem[]>(otherOfficer('/api/v1/reviews?limit=2'))).length).toBe(2);
    expect((await otherOfficer('/api/v1/reviews?limit=0')).status).toBe(400);
    expect((await otherOfficer('/api/v1/reviews?status=bogus')).status).toBe(400);
  });

  it('rejects with a reason only; the farmer never sees a rejected recommendation; the gateways learn the decision', async () => {
    const rec = await makeRec({ field: 'paddy-1', now: T0 + 10_000, ndvi: [0.7, 0.71] });
    await sync('gw-1', [{ kind: 'recommendation', body: rec }]);
    for (const body of [
      {},
      { reason: '' },
      { reason: 'x'.repeat(1001) },
      { reason: 'bad\u0000reason' },
      { reason: 'ok reason', extra: 1 },
    ]) {
      const res = await post(officer, `/api/v1/reviews/${rec.id}/reject`, body);
      expect(res.status).toBe(400);
      expect((await res.json()).code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
    }
    const rejected = await json<ReviewDetail>(
      post(officer, `/api/v1/reviews/${rec.id}/reject`, {
        reason: '画像が古い / imagery too old for a top-dressing',
      }),
    );
    expect(rejected.status).toBe('rejected');
    expect(rejected.audit.at(-1)).toMatchObject({
      action: 'rejected',
      actor: 'demo-officer',
      reason: expect.stringMatching(/imagery too old/),
    });
    expect((await farmer(`/api/v1/recommendations/${rec.id}`)).status).toBe(404);
    expect((await farmer(`/api/v1/recommendations/${rec.id}/prescription/isoxml`)).status).toBe(404);
    expect(await prescriptionTips(farmer, rec.id)).toEqual([]);
    expect(
      (server.ctx.downlink.get('demo-farm', 'recommendation', rec.id)!.body as { status: string }).status,
    ).toBe('rejected');
  });

  it('refuses hostile edits with a coded error and changes nothing', async () => {
    const rec = await makeRec({ field: 'paddy-1', now: T0 + 20_000, ndvi: [0.7] });
    await sync('gw-1', [{ kind: 'recommendation', body: rec }]);
    const cases: [unknown, string][] = [
      [{ zones: [{ zone: 'nope', kgNHa: 5 }], reason: 'typo zone' }, '/zones/0/zone'],
      [{ zones: [{ zone: 'paddy-1-z1', kgNHa: -1 }], reason: 'negative' }, '/zones/0/kgNHa'],
      [{ zones: [{ zone: 'paddy-1-z1', kgNHa: 1e9 }], reason: 'huge' }, '/zones/0/kgNHa'],
      [{ zones: [{ zone: 'paddy-1-z1', kgNHa: '5' }], reason: 'string' }, '/zones/0/kgNHa'],
      [{ zones: [{ zone: 'paddy-1-z1', kgNHa: 5 }] }, ''],
      [{ zones: [], reason: 'nothing' }, '/zones'],
      [
        {
          zones: [
            { zone: 'paddy-1-z1', kgNHa: 5 },
            { zone: 'paddy-1-z1', kgNHa: 6 },
          ],
          reason: 'twice',
        },
        '/zones/1/zone',
      ],
      [{ zones: [{ zone: 'paddy-1-z1', kgNHa: rec.zones[0]!.rate.kgNHa }], reason: 'same' }, ''],
    ];
    const revision = (await json<ReviewDetail>(officer(`/api/v1/reviews/${rec.id}`))).revision;
    for (const [body, pointer] of cases) {
      const res = await post(officer, `/api/v1/reviews/${rec.id}/edit`, body);
      const problem = (await res.json()) as { code: string; pointer?: string };
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(problem.code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
      if (pointer) expect(problem.pointer).toBe(pointer);
    }
    const after = await json<ReviewDetail>(officer(`/api/v1/reviews/${rec.id}`));
    expect(after.revision).toBe(revision);
    expect(after.audit.map((a) => a.action)).toEqual(['received']);
  });

  it('names an edited zone whose id holds "/" or "~" by an escaped JSON pointer, and reads it back as that zone', async () => {
    // Zone ids are any text a gateway sends (up to 100 characters); the audit path must name that
    // one zone to any RFC 6901 reader, and the CSV must still say which zone it was.
    tokens['gw-4'] = server.ctx.auth.issueGatewayToken('gw-4', 'iwa-farm');
    await sync('gw-4', [
      {
        kind: 'manifest',
        body: {
          farm: { id: 'iwa-farm', name: '岩室の農場', region: 'niigata', timezone: 'Asia/Tokyo' },
          fields: [{ id: 'paddy-7', name: '田んぼ7', crop: 'rice' }],
          devices: [],
        },
      },
    ]);
    const rec = await makeRec({ farm: 'iwa-farm', field: 'paddy-7', now: T0 + 25_000, ndvi: [0.7, 0.8] });
    rec.zones[0]!.id = 'north/a~1';
    rec.zones[1]!.id = 'north';
    await sync('gw-4', [{ kind: 'recommendation', body: rec }]);
    await json(
      post(officer, `/api/v1/reviews/${rec.id}/edit`, {
        zones: [{ zone: 'north/a~1', kgNHa: 20 }],
        reason: 'slash zone',
      }),
    );
    const detail = await json<ReviewDetail>(officer(`/api/v1/reviews/${rec.id}`));
    const edit = detail.audit.find((a) => a.action === 'edited')!;
    expect(edit.changes.map((c) => c.path)).toEqual([
      '/status',
      '/zones/north~1a~01/kgNHa',
      '/zones/north~1a~01/productKgHa',
    ]);
    // Read back with the RFC's rules: three tokens, the middle one the zone's id as sent.
    expect(pointerTokens(edit.changes[1]!.path)).toEqual(['zones', 'north/a~1', 'kgNHa']);
    expect(detail.zones.find((z) => z.id === 'north/a~1')!.applied.kgNHa).toBe(19.95);
    expect(detail.zones.find((z) => z.id === 'north')!.edited).toBeNull();

    const text = new TextDecoder().decode(
      new Uint8Array(await (await officer('/api/v1/reviews/decisions.csv')).arrayBuffer()).slice(3),
    );
    const rows = parseCsv(text, { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
    const row = rows.find((r) => r.recommendation === rec.id && r.action === 'edited')!;
    expect(row.changes).toContain('/zones/north~1a~01/kgNHa');
    expect(row.changes_ja).toBe('ゾーン1 1.05→1.995 kg/10a（入力 2.0 kg/10a）');
  });
});

describe('a field approved twice', () => {
  it('names the newer approved prescription on the older one and retires the older one’s tip', async () => {
    // The first is approved before the second arrives, so the second does not supersede it on
    // arrival: both end up approved, and the farmer must see which one is current.
    const first = await makeRec({ field: 'paddy-7', now: T0 + 10_000, ndvi: [0.7, 0.72] });
    await sync('gw-1', [{ kind: 'recommendation', body: first }]);
    await json(post(officer, `/api/v1/reviews/${first.id}/approve`, {}));
    expect(await prescriptionTips(farmer, first.id)).toHaveLength(1);
    const second = await makeRec({ field: 'paddy-7', now: T0 + 20_000, ndvi: [0.8, 0.82] });
    await sync('gw-1', [{ kind: 'recommendation', body: second }]);
    await json(post(officer, `/api/v1/reviews/${second.id}/approve`, {}));
    const list = await json<ApprovedRecommendation[]>(farmer('/api/v1/recommendations?field=paddy-7'));
    expect(Object.fromEntries(list.map((r) => [r.id, r.replacedBy]))).toEqual({
      [first.id]: second.id,
      [second.id]: null,
    });
    expect(
      (await json<ApprovedRecommendation>(farmer(`/api/v1/recommendations/${first.id}`))).replacedBy,
    ).toBe(second.id);
    // Only the current prescription's tip still asks the farmer to spread.
    expect(await prescriptionTips(farmer, first.id)).toEqual([]);
    const current = await prescriptionTips(farmer, second.id);
    expect(current).toHaveLength(1);
    const history = await json<TipView[]>(farmer('/api/v1/tips?view=history'));
    expect(
      history.find((v) => v.tip.action?.type === 'fertilize' && v.tip.action.recommendation === first.id),
    ).toMatchObject({ state: 'superseded', stateBy: `tip ${current[0]!.tip.id}` });
  });
});

describe('auto-approval', () => {
  it('approves a recommendation of the named model under the ceiling by itself, logs it, and keeps larger ones and other models for review', async () => {
    expect(await json(officer('/api/v1/farms/demo-farm/auto-approval'))).toBeNull();
    expect((await partner('/api/v1/farms/demo-farm/auto-approval')).status).toBe(403);
    expect((await otherOfficer('/api/v1/farms/demo-farm/auto-approval')).status).toBe(404);
    const put = (f: Fetch, body: unknown) =>
      f('/api/v1/farms/demo-farm/auto-approval', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await put(otherOfficer, { model: MODEL, maxKgNHa: 20 })).status).toBe(404);
    expect((await put(officer, { model: 'Not A Model!', maxKgNHa: 20 })).status).toBe(400);
    expect((await put(officer, { model: MODEL, maxKgNHa: -1 })).status).toBe(400);
    const policy = await json<{ model: string; maxKgNHa: number; setBy: string }>(
      put(farmer, { model: MODEL, maxKgNHa: 12, reason: '毎年同じ穂肥 / same top-dressing every year' }),
    );
    expect(policy).toMatchObject({ model: MODEL, maxKgNHa: 12, setBy: 'demo-farmer' });

    const under = await makeRec({ field: 'paddy-1', now: T0 + 30_000, ndvi: [0.75, 0.8] }); // 10.5 and 5.25 kg N/ha
    const over = await makeRec({ field: 'upland-1', now: T0 + 30_000, ndvi: [0.6] }); // 1.5 kg N/10a → 14.7 kg N/ha
    await sync('gw-1', [
      { kind: 'recommendation', body: under },
      { kind: 'recommendation', body: over },
    ]);
    const a = await json<ReviewDetail>(officer(`/api/v1/reviews/${under.id}`));
    expect(a.status).toBe('approved');
    expect(a.audit.map((e) => [e.action, e.actor])).toEqual([
      ['received', 'gateway gw-1'],
      ['auto_approved', 'auto-approval'],
    ]);
    expect(a.audit[1]!.reason).toMatch(/every zone ≤ 12 kg N\/ha \(set by demo-farmer\)/);
    expect(a.audit[1]!.changes).toContainEqual({ path: '/policy/maxKgNHa', from: null, to: 12 });
    expect(server.ctx.downlink.get('demo-farm', 'recommendation', under.id)).toBeDefined();
    const mine = await json<ApprovedRecommendation[]>(farmer('/api/v1/recommendations'));
    expect(mine.find((r) => r.id === under.id)).toMatchObject({
      autoApproved: true,
      approvedBy: 'auto-approval',
    });
    const [autoTip] = await prescriptionTips(farmer, under.id);
    expect(autoTip!.tip.text.ja).toMatch(/^自動承認ルールにより承認しました/);

    const b = await json<ReviewDetail>(officer(`/api/v1/reviews/${over.id}`));
    expect(b.status).toBe('pending_review');
    expect(b.audit[0]!.reason).toMatch(
      /auto-approval not applied: zone upland-1-z1 is 14.7 kg N\/ha, above the ceiling 12/,
    );

    // The policy names a model: another model's recommendation under the ceiling still waits for
    // an officer, and so does the named model's when the policy pins a version it was not made by.
    const otherModel = await makeRec({
      field: 'auto-ndre-1',
      now: T0 + 31_000,
      model: NDRE_MODEL,
      ndvi: [0.75],
      ndre: [0.36],
    });
    expect(otherModel.model.id).toBe(NDRE_MODEL);
    expect(Math.max(...otherModel.zones.map((z) => z.rate.kgNHa))).toBeLessThanOrEqual(12);
    await sync('gw-1', [{ kind: 'recommendation', body: otherModel }]);
    const c = await json<ReviewDetail>(officer(`/api/v1/reviews/${otherModel.id}`));
    expect(c.status).toBe('pending_review');
    expect(c.audit.map((e) => e.action)).toEqual(['received']);
    expect(server.ctx.downlink.get('demo-farm', 'recommendation', otherModel.id)).toBeUndefined();

    expect(under.model.version).toBe('1.1.0');
    await json(put(officer, { model: `${MODEL}@1.0.0`, maxKgNHa: 12 }));
    const otherVersion = await makeRec({ field: 'auto-v-1', now: T0 + 32_000, ndvi: [0.75] });
    expect(otherVersion.model).toMatchObject({ id: MODEL, version: '1.1.0' });
    expect(Math.max(...otherVersion.zones.map((z) => z.rate.kgNHa))).toBeLessThanOrEqual(12);
    await sync('gw-1', [{ kind: 'recommendation', body: otherVersion }]);
    const d = await json<ReviewDetail>(officer(`/api/v1/reviews/${otherVersion.id}`));
    expect(d.status).toBe('pending_review');
    expect(d.audit.map((e) => e.action)).toEqual(['received']);

    await json(put(officer, { model: `${MODEL}@1.1.0`, maxKgNHa: 12 }));
    const pinned = await makeRec({ field: 'auto-v-2', now: T0 + 33_000, ndvi: [0.75] });
    await sync('gw-1', [{ kind: 'recommendation', body: pinned }]);
    const e = await json<ReviewDetail>(officer(`/api/v1/reviews/${pinned.id}`));
    expect(e.status).toBe('approved');
    expect(e.audit.map((x) => [x.action, x.actor])).toEqual([
      ['received', 'gateway gw-1'],
      ['auto_approved', 'auto-approval'],
    ]);
    expect(e.audit[1]!.changes).toContainEqual({ path: '/policy/model', from: null, to: `${MODEL}@1.1.0` });
    // The two left for review are still waiting: a later policy does not reach back.
    for (const id of [otherModel.id, otherVersion.id]) {
      expect((await json<ReviewDetail>(officer(`/api/v1/reviews/${id}`))).status).toBe('pending_review');
    }

    const removed = await officer('/api/v1/farms/demo-farm/auto-approval', { method: 'DELETE' });
    expect(removed.status).toBe(204);
    const policyLog = server.ctx.db
      .prepare(`SELECT action, actor, reason FROM review_audit WHERE recommendation IS NULL ORDER BY seq`)
      .all();
    expect(policyLog).toEqual([
      { action: 'policy_set', actor: 'demo-farmer', reason: '毎年同じ穂肥 / same top-dressing every year' },
      { action: 'policy_set', actor: 'demo-officer', reason: null },
      { action: 'policy_set', actor: 'demo-officer', reason: null },
      { action: 'policy_removed', actor: 'demo-officer', reason: null },
    ]);
  });
});

describe('CSV of decisions', () => {
  it('exports the region’s decisions for officers, readable beside the codes, neutralises formulas, and shows no other region', async () => {
    // a second farm of the region whose names need quoting in a CSV
    tokens['gw-3'] = server.ctx.auth.issueGatewayToken('gw-3', 'sado-farm');
    await sync('gw-3', [
      {
        kind: 'manifest',
        body: {
          farm: {
            id: 'sado-farm',
            name: '佐渡の"みどり"農場, 第2',
            region: 'niigata',
            timezone: 'Asia/Tokyo',
          },
          fields: [{ id: 'paddy-2', name: '田んぼ2号, "北"', crop: 'rice' }],
          devices: [],
        },
      },
    ]);
    const sado = await makeRec({ farm: 'sado-farm', field: 'paddy-2', now: T0 + 35_000, ndvi: [0.7, 0.8] });
    expect(sado.zones[1]!.rate.kgNHa).toBe(5.25);
    await sync('gw-3', [{ kind: 'recommendation', body: sado }]);
    await json(
      post(officer, `/api/v1/reviews/${sado.id}/edit`, {
        zones: [{ zone: 'paddy-2-z2', kgNHa: 20 }], // the officer typed 2.0 kg/10a
        reason: '葉色が淡い',
      }),
    );
    await json(post(officer, `/api/v1/reviews/${sado.id}/approve`, {}));

    const rec = await makeRec({ field: 'paddy-1', now: T0 + 40_000, ndvi: [0.7] });
    await sync('gw-1', [{ kind: 'recommendation', body: rec }]);
    await json(
      post(officer, `/api/v1/reviews/${rec.id}/reject`, {
        reason: '=HYPERLINK("http://evil.example","click")',
      }),
    );
    const res = await officer('/api/v1/reviews/decisions.csv');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="hatake-decisions-\d{8}\.csv"$/,
    );
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = new TextDecoder().decode(bytes.slice(3));
    const lines = text.trim().split('\r\n');
    expect(lines[0]).toBe(
      'time_utc,time_local,farm,farm_name,field,field_name,recommendation,model,action,action_ja,actor,role,' +
        'from_status,from_status_ja,to_status,to_status_ja,changes,changes_ja,reason',
    );
    const rows = parseCsv(text, { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
    expect(rows).toHaveLength(lines.length - 1);

    const rejected = rows.find((r) => r.recommendation === rec.id)!;
    // The decision's time in the farm's zone (Asia/Tokyo, UTC+9) beside the exact UTC one.
    const jst = new Date(Date.parse(rejected.time_utc!) + 9 * 3_600_000).toISOString();
    expect(rejected.time_local).toBe(`${jst.slice(0, 10)} ${jst.slice(11, 16)}`);
    expect(rejected).toMatchObject({
      farm: 'demo-farm',
      farm_name: 'はたけデモ農場',
      field: 'paddy-1',
      field_name: '田んぼ1号（コシヒカリ）',
      model: `${MODEL}@1.1.0`,
      action: 'rejected',
      action_ja: '差し戻し',
      actor: 'demo-officer',
      role: 'officer',
      from_status: 'pending_review',
      from_status_ja: '審査待ち',
      to_status: 'rejected',
      to_status_ja: '差し戻し',
      changes: '',
      changes_ja: '',
      reason: `'=HYPERLINK("http://evil.example","click")`,
    });
    expect(lines.find((l) => l.includes(rec.id))).toContain(
      `,"'=HYPERLINK(""http://evil.example"",""click"")"`,
    );

    // names from the farm's manifest, quoted whole; the change in kg/10a as the officer typed it
    const [edited, approved] = rows.filter((r) => r.recommendation === sado.id);
    expect(edited).toMatchObject({
      farm: 'sado-farm',
      farm_name: '佐渡の"みどり"農場, 第2',
      field: 'paddy-2',
      field_name: '田んぼ2号, "北"',
      action: 'edited',
      action_ja: '修正',
      to_status_ja: '修正済み（未承認）',
      changes: '/zones/paddy-2-z2/kgNHa 5.25→19.95 (asked 20); /zones/paddy-2-z2/productKgHa 25→95',
      changes_ja: 'ゾーン2 0.525→1.995 kg/10a（入力 2.0 kg/10a）',
      reason: '葉色が淡い',
    });
    expect(approved).toMatchObject({
      action_ja: '承認',
      from_status_ja: '修正済み（未承認）',
      to_status_ja: '承認済み',
    });
    expect(text).toContain(',"佐渡の""みどり""農場, 第2",paddy-2,"田んぼ2号, ""北""",');

    expect(rows.some((r) => r.action === 'edited' && r.changes.includes('/zones/paddy-1-z1/kgNHa'))).toBe(
      true,
    );
    expect(rows.find((r) => r.action === 'auto_approved')).toMatchObject({
      actor: 'auto-approval',
      action_ja: '自動承認',
    });
    expect(rows.find((r) => r.action === 'policy_set')).toMatchObject({
      field: '',
      action_ja: '自動承認の設定',
      changes_ja: `自動承認の対象のモデル なし→${MODEL}、自動承認の窒素量の上限 なし→1.2 kg/10a`,
    });
    expect(text).not.toContain('hok-farm');
    const theirs = await (await otherOfficer('/api/v1/reviews/decisions.csv')).text();
    expect(theirs).not.toContain('demo-farm');
    expect(theirs).not.toContain('sado-farm');
    expect((await farmer('/api/v1/reviews/decisions.csv')).status).toBe(403);
    const later = await (await officer('/api/v1/reviews/decisions.csv?from=2100-01-01T00:00:00Z')).text();
    expect(later.trim().split('\r\n')).toHaveLength(1);
    expect((await officer('/api/v1/reviews/decisions.csv?from=yesterday')).status).toBe(400);
  });
});

describe('review notifications', () => {
  it('tells the region’s officers of a review request and the farm of the approval, by signed webhook', async () => {
    const got: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    const rx = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push({ headers: req.headers, body });
        res.end();
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    const port = (rx.address() as AddressInfo).port;
    try {
      const region = await json<{ id: string; secret: string }>(
        post(officer, '/api/v1/webhooks', {
          region: 'niigata',
          url: `http://127.0.0.1:${port}/office`,
          events: ['review.requested'],
        }),
        201,
      );
      await json(
        post(farmer, '/api/v1/webhooks', {
          farm: 'demo-farm',
          url: `http://127.0.0.1:${port}/farm`,
          events: ['recommendation.approved'],
        }),
        201,
      );
      const rec = await makeRec({ field: 'paddy-1', now: T0 + 50_000, ndvi: [0.7] });
      await sync('gw-1', [{ kind: 'recommendation', body: rec }]);
      const req = await eventually(() => got.find((g) => g.headers['x-hatake-event'] === 'review.requested'));
      const ts = String(req.headers['x-hatake-timestamp']);
      expect(req.headers['x-hatake-signature']).toBe(
        `v1=${createHmac('sha256', region.secret).update(`${ts}.${req.body}`).digest('hex')}`,
      );
      expect(JSON.parse(req.body)).toMatchObject({
        event: 'review.requested',
        farm: 'demo-farm',
        region: 'niigata',
        data: { recommendation: rec.id, field: 'paddy-1', model: `${MODEL}@1.1.0`, zones: 1 },
      });
      await json(post(officer, `/api/v1/reviews/${rec.id}/approve`, {}));
      const ok = await eventually(() =>
        got.find((g) => g.headers['x-hatake-event'] === 'recommendation.approved'),
      );
      expect(JSON.parse(ok.body)).toMatchObject({
        data: { recommendation: rec.id, approvedBy: 'demo-officer', autoApproved: false },
      });
      // the farm's hook never heard of the pending recommendation
      expect(got.filter((g) => g.headers['x-hatake-event'] === 'review.requested')).toHaveLength(1);
    } finally {
      await new Promise<void>((r) => rx.close(() => r()));
    }
  });
});

describe('the audit log', () => {
  it('detects a row changed behind the triggers’ back', () => {
    const db = server.ctx.db;
    const entries = db.prepare('SELECT seq FROM review_audit ORDER BY seq').all() as Pick<
      AuditEntry,
      'seq'
    >[];
    const victim = entries[1]!.seq;
    db.exec('DROP TRIGGER review_audit_no_update');
    db.prepare(`UPDATE review_audit SET reason = 'forged' WHERE seq = ?`).run(victim);
    expect(verifyAuditChain(db)).toEqual({ ok: false, seq: victim });
  });
});
