// Tips on the server: real tips raised by the gateway's rules (edge/rules irrigation and paddy
// water level over simulated readings) arrive in sync batches; the server stores each once,
// hides a second gateway's duplicate of a live tip, lets an escalation replace it, and lets the
// farmer act, dismiss or automate — "automate" makes a checked automation from the tip's own
// evidence and sends it to the gateways. Other farms, partners and officers cannot change them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { Reading } from '../../protocol/telemetry.ts';
import { Tip } from '../../protocol/tip.ts';
import { Automation } from '../../protocol/automation.ts';
import type { AutomationView, TipView } from '../../protocol/review.ts';
import { validator } from '../../protocol/validate.ts';
import { irrigationRule, IRRIGATION_DEFAULTS } from '../../edge/rules/irrigation.ts';
import { paddyWaterRule, PADDY_WATER_DEFAULTS } from '../../edge/rules/paddy-water.ts';
import { emptyTipState, stepTips, type TipState } from '../../edge/rules/lifecycle.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { tipClearedItem } from '../../gateway/tips.ts';
import { demoManifest, signIn, startServer } from '../helpers/stack.ts';

const HOUR = 3_600_000;
// Rules run a few hours back so that escalations later in the test are not in the future.
const NOW = Math.floor(Date.now() / 60_000) * 60_000 - 4 * HOUR;
let server: HatakeServer;
let url: string;
let dir: string;
type Fetch = Awaited<ReturnType<typeof signIn>>;
let farmer: Fetch;
let partner: Fetch;
let officer: Fetch;
let otherFarmer: Fetch;
const tokens: Record<string, string> = {};
const seqs: Record<string, number> = {};
const kits = [...loadCatalogue().kits.values()];

function manifest(): Manifest {
  const m = demoManifest();
  m.devices.push(
    { id: 'valve-1', kit: 'hatake-water-gate', field: 'upland-1', name: '灌水バルブ' },
    { id: 'gate-1', kit: 'hatake-water-gate', field: 'paddy-1', name: '水口' },
    { id: 'gate-2', kit: 'hatake-water-gate', field: 'paddy-1', name: '落水口' },
  );
  return m;
}

/** Soil drying by 0.0005 m³/m³ an hour to `theta` at `now`, and the paddy at `level` cm. */
function readings(now: number, theta: number, level: number): Reading[] {
  const out: Reading[] = [];
  for (let t = now - 24 * HOUR; t <= now; t += 10 * 60_000) {
    out.push({
      device: 'soil-1',
      metric: 'soil_vwc',
      value: theta + (0.0005 * (now - t)) / HOUR,
      unit: 'm3/m3',
      time: t,
      flags: [],
    });
    out.push({ device: 'water-1', metric: 'water_level', value: level, unit: 'cm', time: t, flags: [] });
  }
  return out;
}

/** One run of the gateway's rules and tip lifecycle. */
function runRules(state: TipState, now: number, theta: number, level: number) {
  const m = manifest();
  const ctx = {
    now,
    farm: m.farm,
    fields: m.fields,
    devices: m.devices,
    kits,
    readings: readings(now, theta, level),
    stages: { 'paddy-1': 'panicle_initiation' },
  };
  const assessments = [
    ...irrigationRule.evaluate(ctx, IRRIGATION_DEFAULTS).assessments,
    ...paddyWaterRule.evaluate(ctx, PADDY_WATER_DEFAULTS).assessments,
  ];
  return stepTips(state, assessments, now);
}

async function sync(gateway: string, tips: unknown[], kind: 'tip' | 'tip_cleared' = 'tip') {
  const first = (seqs[gateway] ?? 0) + 1;
  seqs[gateway] = first + tips.length - 1;
  const batch = {
    gateway,
    seqFrom: first,
    seqTo: seqs[gateway],
    sentAt: Date.now(),
    items: tips.map((body, i) => ({ seq: first + i, kind, body })),
  };
  await resend(gateway, batch);
  return batch;
}

async function resend(gateway: string, batch: unknown) {
  const res = await fetch(`${url}/api/v1/sync`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[gateway]}`, 'content-type': 'application/json' },
    body: JSON.stringify(batch),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

/** One item in a batch of its own, at a sequence number of its own (for refusals: no sync state). */
const sendOutOfLine = (kind: string, body: unknown, seq: number) =>
  fetch(`${url}/api/v1/sync`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens['gw-1']}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      gateway: 'gw-1',
      seqFrom: seq,
      seqTo: seq,
      sentAt: NOW,
      items: [{ seq, kind, body }],
    }),
  });

const post = (f: Fetch, path: string, body?: unknown) =>
  f(path, {
    method: 'POST',
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
async function json<T>(res: Response | Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  const text = await r.text();
  expect(r.status, text).toBe(status);
  return JSON.parse(text) as T;
}

let first: ReturnType<typeof runRules>;
const changes: { farm: string; kind: string; id: string }[] = [];
let irrigation: Tip;
let paddy: Tip;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-tips-'));
  ({ server, url } = await startServer(dir));
  tokens['gw-1'] = server.ctx.auth.issueGatewayToken('gw-1', 'demo-farm');
  tokens['gw-2'] = server.ctx.auth.issueGatewayToken('gw-2', 'demo-farm');
  await server.ctx.auth.createUser('other-farmer', 'other-password-1', 'farmer', { farms: ['hok-farm'] });
  const res = await fetch(`${url}/api/v1/sync`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens['gw-1']}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      gateway: 'gw-1',
      seqFrom: 1,
      seqTo: 1,
      sentAt: NOW,
      items: [{ seq: 1, kind: 'manifest', body: manifest() }],
    }),
  });
  expect(res.status).toBe(200);
  seqs['gw-1'] = 1;
  server.ctx.live.on('change', (e) => changes.push(e));
  farmer = await signIn(url, 'demo-farmer');
  partner = await signIn(url, 'demo-partner');
  officer = await signIn(url, 'demo-officer');
  otherFarmer = await signIn(url, 'other-farmer', 'other-password-1');
  first = runRules(emptyTipState(), NOW, 0.17, 0.5);
  irrigation = first.raised.find((t) => t.kind === 'irrigation')!;
  paddy = first.raised.find((t) => t.kind === 'paddy_water')!;
  expect(irrigation.action).toMatchObject({ type: 'irrigate', valve: 'valve-1' });
  expect(paddy.action).toMatchObject({ type: 'water_level', minCm: 3, maxCm: 5 });
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const active = async (f: Fetch = farmer) => json<TipView[]>(f('/api/v1/tips'));

describe('synced tips', () => {
  it('stores each tip once, however often a batch is resent, and lists the active ones most severe first', async () => {
    const batch = await sync('gw-1', first.raised);
    await resend('gw-1', batch);
    await resend('gw-1', batch);
    const tips = await active();
    // pages refresh on a live 'change' per new tip, once
    expect(
      changes
        .filter((c) => c.kind === 'tip')
        .map((c) => c.id)
        .sort(),
    ).toEqual([irrigation.id, paddy.id].sort());
    expect(tips.map((t) => t.tip.id).sort()).toEqual([irrigation.id, paddy.id].sort());
    expect(tips[0]!.tip.severity === 'warning' || tips[0]!.tip.severity === 'severe').toBe(true);
    const view = tips.find((t) => t.tip.id === irrigation.id)!;
    expect(view).toMatchObject({ state: 'open', expired: false, automatable: true, automation: null });
    expect(view.actuators).toEqual(['valve-1']); // the one valve on upland-1
    expect(validator(Tip).check(view.tip)).toBe(true);
    expect(view.tip.title.ja.length).toBeGreaterThan(0);
    expect((server.ctx.db.prepare('SELECT COUNT(*) AS n FROM tips').get() as { n: number }).n).toBe(2);
    // everyone who can see the farm can read them; another farm sees nothing
    expect((await active(partner)).length).toBe(2);
    expect((await active(officer)).length).toBe(2);
    expect(await active(otherFarmer)).toEqual([]);
    expect((await otherFarmer(`/api/v1/tips/${irrigation.id}`)).status).toBe(404);
  });

  it('keeps a second gateway’s tip for a condition that already has a live tip as a hidden duplicate', async () => {
    // gw-2 runs the same rules on the same farm a minute later: same condition, its own tip id
    const second = runRules(emptyTipState(), NOW + 60_000, 0.1695, 0.5);
    const dup = second.raised.find((t) => t.kind === 'irrigation')!;
    expect(dup.id).not.toBe(irrigation.id);
    expect(dup.dedupKey).toBe(irrigation.dedupKey);
    expect(dup.severity).toBe(irrigation.severity);
    await sync('gw-2', [dup]);
    const tips = await active();
    expect(tips.map((t) => t.tip.id)).not.toContain(dup.id);
    expect(tips.filter((t) => t.tip.kind === 'irrigation')).toHaveLength(1);
    expect((await farmer(`/api/v1/tips/${dup.id}`)).status).toBe(404);
    const history = await json<TipView[]>(farmer('/api/v1/tips?view=history'));
    expect(history.map((t) => t.tip.id)).not.toContain(dup.id);
    expect(server.ctx.db.prepare('SELECT state FROM tips WHERE id = ?').get(dup.id)).toEqual({
      state: 'duplicate',
    });
  });

  it('lets an escalated tip replace the live one', async () => {
    // three hours on the soil is at the wilting point: the rule escalates to severe
    const later = runRules(first.state, NOW + 3 * HOUR, 0.11, 0.5);
    const severe = later.raised.find((t) => t.kind === 'irrigation')!;
    expect(severe).toMatchObject({ reason: 'escalated', severity: 'severe', supersedes: irrigation.id });
    await sync('gw-1', [severe]);
    const tips = (await active()).filter((t) => t.tip.kind === 'irrigation');
    expect(tips.map((t) => t.tip.id)).toEqual([severe.id]);
    expect(await json<TipView>(farmer(`/api/v1/tips/${irrigation.id}`))).toMatchObject({
      state: 'superseded',
      stateBy: `tip ${severe.id}`,
    });
    irrigation = severe;
  });

  it('refuses a tip for another farm from a gateway, and malformed tips, without storing anything', async () => {
    const n = (server.ctx.db.prepare('SELECT COUNT(*) AS n FROM tips').get() as { n: number }).n;
    const send = (body: unknown) => sendOutOfLine('tip', body, 900);
    expect((await send({ ...paddy, id: 'tip-elsewhere', farm: 'hok-farm' })).status).toBe(403);
    expect((await send({ ...paddy, id: 'tip-bad', severity: 'apocalyptic' })).status).toBe(400);
    expect((await send({ ...paddy, id: 'tip-big', title: { ja: 'x'.repeat(5000), en: 'x' } })).status).toBe(
      400,
    );
    expect((await send({ ...paddy, id: '<script>alert(1)</script>' })).status).toBe(400);
    expect((server.ctx.db.prepare('SELECT COUNT(*) AS n FROM tips').get() as { n: number }).n).toBe(n);
  });
});

describe('acting on tips', () => {
  const scout = (): Tip => ({
    ...paddy,
    id: 'tip-scout-blast-1',
    kind: 'rice_blast',
    severity: 'advisory',
    dedupKey: 'rice_blast:demo-farm:paddy-1',
    action: { type: 'scout', field: 'paddy-1', target: 'rice_blast', withinHours: 24 },
  });

  it('lets the farmer act on and dismiss a tip, and nobody else', async () => {
    const id = scout().id;
    await sync('gw-1', [scout()]);
    for (const f of [partner, officer]) {
      const res = await post(f, `/api/v1/tips/${id}/act`);
      expect(res.status).toBe(403);
      expect((await res.json()).code).toBe('HATAKE_E_FORBIDDEN');
    }
    expect((await post(otherFarmer, `/api/v1/tips/${id}/dismiss`)).status).toBe(404);
    // without the CSRF token nothing happens
    expect(
      (await farmer(`/api/v1/tips/${id}/act`, { method: 'POST', headers: { 'x-csrf-token': '' } })).status,
    ).toBe(403);
    expect((await json<TipView>(farmer(`/api/v1/tips/${id}`))).state).toBe('open');
    const acted = await json<TipView>(post(farmer, `/api/v1/tips/${id}/act`));
    expect(acted).toMatchObject({ state: 'acted', stateBy: 'demo-farmer' });
    expect((await json<TipView>(post(farmer, `/api/v1/tips/${id}/act`))).state).toBe('acted'); // idempotent
    const dismissed = await json<TipView>(post(farmer, `/api/v1/tips/${id}/dismiss`));
    expect(dismissed.state).toBe('dismissed');
    expect((await active()).map((t) => t.tip.id)).not.toContain(id);
    const again = await post(farmer, `/api/v1/tips/${id}/act`);
    expect(again.status).toBe(409);
    expect((await again.json()).code).toBe('HATAKE_E_STATE_CONFLICT');
  });

  it('turns an irrigation tip into a disabled automation steered by the tip’s own probe and threshold, and sends it down', async () => {
    const out = await json<{ tip: TipView; automation: AutomationView }>(
      post(farmer, `/api/v1/tips/${irrigation.id}/automate`, {}),
    );
    const a = out.automation;
    // θ where the readily available water is used up: θFC − RAW / root depth, from the tip's evidence
    const q = (n: string) => irrigation.evidence.quantities.find((x) => x.name === n)!.value;
    const theta = Math.round((q('theta_fc') - q('raw') / (1000 * q('root_depth'))) * 1000) / 1000;
    expect(a).toMatchObject({
      farm: 'demo-farm',
      field: 'upland-1',
      enabled: false,
      version: 1,
      fromTip: irrigation.id,
      createdBy: 'demo-farmer',
      trigger: { kind: 'threshold', device: 'soil-1', metric: 'soil_vwc', op: '<', value: theta },
      action: { device: 'valve-1', command: 'open_for', params: { minutes: 30 } },
      limits: { maxRunsPerDay: 2, quietHours: { from: '22:00', to: '05:00' }, maxOpenMinutes: 30 },
    });
    expect(theta).toBeGreaterThan(0.1);
    expect(theta).toBeLessThan(0.25);
    expect(out.tip).toMatchObject({ state: 'automated', automation: a.id });
    const down = server.ctx.downlink.get('demo-farm', 'automation', a.id)!;
    expect(validator(Automation).parse(down.body, 'downlink')).toMatchObject({
      id: a.id,
      version: 1,
      enabled: false,
    });
    const again = await post(farmer, `/api/v1/tips/${irrigation.id}/automate`, {});
    expect(again.status).toBe(409);
  });

  it('refuses to automate what cannot be automated, or with hostile adjustments, and creates nothing', async () => {
    const before = (server.ctx.db.prepare('SELECT COUNT(*) AS n FROM automations').get() as { n: number }).n;
    const cases: [string, unknown, string, string | undefined][] = [
      [scout().id, {}, 'HATAKE_E_STATE_CONFLICT', undefined], // dismissed
      [paddy.id, { actuator: 'soil-1' }, 'HATAKE_E_AUTOMATION', '/actuator'],
      [paddy.id, { actuator: 'valve-of-another-farm' }, 'HATAKE_E_AUTOMATION', '/actuator'],
      [
        paddy.id,
        { name: { ja: '<script>alert(1)</script>', en: 'x' } },
        'HATAKE_E_PAYLOAD_SCHEMA',
        '/name/ja',
      ],
      [paddy.id, { name: { ja: 'あ'.repeat(201), en: 'x' } }, 'HATAKE_E_PAYLOAD_SCHEMA', '/name/ja'],
      [paddy.id, { limits: { maxRunsPerDay: 0 } }, 'HATAKE_E_PAYLOAD_SCHEMA', '/limits/maxRunsPerDay'],
      [
        paddy.id,
        { actuator: 'gate-1', limits: { quietHours: { from: '05:00', to: '05:00' } } },
        'HATAKE_E_AUTOMATION',
        '/limits/quietHours',
      ],
      [
        paddy.id,
        { limits: { quietHours: { from: '25:00', to: '05:00' } } },
        'HATAKE_E_PAYLOAD_SCHEMA',
        '/limits/quietHours/from',
      ],
      [paddy.id, { sudo: true }, 'HATAKE_E_PAYLOAD_SCHEMA', undefined],
    ];
    for (const [id, body, code, pointer] of cases) {
      const res = await post(farmer, `/api/v1/tips/${id}/automate`, body);
      const p = (await res.json()) as { code: string; pointer?: string };
      expect([400, 409], JSON.stringify(body)).toContain(res.status);
      expect(p.code, JSON.stringify(body)).toBe(code);
      if (pointer) expect(p.pointer, JSON.stringify(body)).toBe(pointer);
    }
    // a scouting tip says what to look at, not what to switch
    const blast = { ...scout(), id: 'tip-scout-blast-2', dedupKey: 'rice_blast:demo-farm:paddy-1:b' };
    await sync('gw-1', [blast]);
    expect((await json<TipView>(farmer(`/api/v1/tips/${blast.id}`))).automatable).toBe(false);
    const no = await post(farmer, `/api/v1/tips/${blast.id}/automate`, {});
    expect(no.status).toBe(400);
    expect((await no.json()).detail).toMatch(/a scout tip cannot become an automation/);
    expect((server.ctx.db.prepare('SELECT COUNT(*) AS n FROM automations').get() as { n: number }).n).toBe(
      before,
    );
    expect((await json<TipView>(farmer(`/api/v1/tips/${paddy.id}`))).state).toBe('open');
    expect((await farmer('/api/v1/tips/%3Cscript%3E')).status).toBe(400);
    expect((await farmer('/api/v1/tips?view=everything')).status).toBe(400);
    expect((await farmer('/api/v1/tips?limit=100000')).status).toBe(400);
  });

  it('offers only what can be automated: a tip naming a valve the farm does not have cannot be', async () => {
    const stray: Tip = {
      ...irrigation,
      id: 'tip-irr-stray-valve',
      dedupKey: 'irrigation:demo-farm:upland-1:stray',
      reason: 'new',
      supersedes: undefined,
      action: { type: 'irrigate', field: 'upland-1', valve: 'valve-9', amountMm: 20, withinHours: 12 },
    };
    await sync('gw-1', [stray]);
    expect(await json<TipView>(farmer(`/api/v1/tips/${stray.id}`))).toMatchObject({
      automatable: false,
      actuators: [],
    });
  });

  it('turns a paddy water-level tip into a band automation on the water gate the farmer picks, with the farmer’s adjustments', async () => {
    // paddy-1 has two gates: both are offered, and neither is taken without the farmer saying which.
    expect(await json<TipView>(farmer(`/api/v1/tips/${paddy.id}`))).toMatchObject({
      automatable: true,
      actuators: ['gate-1', 'gate-2'],
    });
    const unsure = await post(farmer, `/api/v1/tips/${paddy.id}/automate`, { enabled: true });
    expect(unsure.status).toBe(400);
    expect(await unsure.json()).toMatchObject({ code: 'HATAKE_E_AUTOMATION', pointer: '/actuator' });
    const out = await json<{ automation: AutomationView }>(
      post(farmer, `/api/v1/tips/${paddy.id}/automate`, {
        actuator: 'gate-1',
        enabled: true,
        name: { ja: '田んぼ1号の水位', en: 'Paddy 1 water level' },
        limits: { maxRunsPerDay: 6 },
      }),
    );
    expect(out.automation).toMatchObject({
      enabled: true,
      fromTip: paddy.id,
      name: { ja: '田んぼ1号の水位', en: 'Paddy 1 water level' },
      trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
      below: { device: 'gate-1', command: 'open' },
      above: { device: 'gate-1', command: 'close' },
      limits: { maxRunsPerDay: 6, maxOpenMinutes: 180 },
    });
  });
});

describe('tips whose condition cleared', () => {
  const tipsRow = (id: string) =>
    server.ctx.db.prepare('SELECT state, cleared_at FROM tips WHERE id = ?').get(id) as {
      state: string;
      cleared_at: number | null;
    };

  it('leave the active list once their gateway says so, keep the farmer’s state, and make the next one news', async () => {
    // Half an hour on, the paddy is back in its 3–5 cm band: the rule's tip clears (the soil is
    // still dry, so the irrigation tip holds).
    const back = runRules(first.state, NOW + HOUR / 2, 0.17, 4);
    expect(back.raised).toEqual([]);
    expect(back.cleared.map((c) => c.tipId)).toEqual([paddy.id]);
    const before = changes.length;
    const batch = await sync('gw-1', back.cleared.map(tipClearedItem), 'tip_cleared');
    await resend('gw-1', batch);
    expect(changes.slice(before)).toEqual([{ farm: 'demo-farm', kind: 'tip', id: paddy.id }]);
    expect((await active()).map((t) => t.tip.id)).not.toContain(paddy.id);
    const view = await json<TipView>(farmer(`/api/v1/tips/${paddy.id}`));
    // automated in the test before: the farmer's choice stays, the condition's end is beside it
    expect(view).toMatchObject({ state: 'automated', cleared: new Date(NOW + HOUR / 2).toISOString() });
    const history = await json<TipView[]>(farmer('/api/v1/tips?view=history'));
    expect(history.find((t) => t.tip.id === paddy.id)?.cleared).toBe(view.cleared);

    // After the rule's 3 h cool-down the water drops again: a new tip for the same condition is
    // open and listed — not hidden as a duplicate of the one that cleared (still unexpired).
    const again = runRules(back.state, NOW + HOUR / 2 + 3 * HOUR + 10 * 60_000, 0.17, 0.5);
    const next = again.raised.find((t) => t.kind === 'paddy_water')!;
    expect(next).toMatchObject({ reason: 'new', dedupKey: paddy.dedupKey });
    expect(next.created).toBeLessThan(paddy.expires);
    await sync('gw-1', [next]);
    expect(tipsRow(next.id).state).toBe('open');
    expect((await active()).map((t) => t.tip.id)).toContain(next.id);
  });

  it('change nothing for a tip of another farm, an unknown tip or a key that does not match, and refuse malformed ones', async () => {
    tokens['gw-h'] = server.ctx.auth.issueGatewayToken('gw-h', 'hok-farm');
    const theirs: Tip = { ...paddy, id: 'tip-hok-paddy', farm: 'hok-farm' };
    await sync('gw-h', [theirs]);
    expect(tipsRow(theirs.id)).toEqual({ state: 'open', cleared_at: null });
    const open = (await active()).find((t) => t.tip.kind === 'irrigation')!;
    await sync(
      'gw-1',
      [
        { id: theirs.id, dedupKey: theirs.dedupKey, at: NOW }, // gw-1 is demo-farm's gateway
        { id: 'tip-never-stored', dedupKey: 'x', at: NOW },
        { id: open.tip.id, dedupKey: 'not-its-key', at: NOW },
      ],
      'tip_cleared',
    );
    expect(tipsRow(theirs.id)).toEqual({ state: 'open', cleared_at: null });
    expect(tipsRow(open.tip.id).cleared_at).toBeNull();
    expect((await active()).map((t) => t.tip.id)).toContain(open.tip.id);

    const send = (body: unknown) => sendOutOfLine('tip_cleared', body, 901);
    const good = { id: open.tip.id, dedupKey: open.tip.dedupKey, at: NOW };
    // Each refusal names what is wrong in the item, not that it is not one of the other kinds.
    for (const [bad, detail] of [
      [{ ...good, at: -1 }, 'body/items/0/body/at must be >= 0'],
      [{ ...good, at: 'yesterday' }, 'body/items/0/body/at must be integer'],
      [{ id: good.id, at: NOW }, "body/items/0/body must have required property 'dedupKey'"],
      [{ ...good, id: '../../etc/passwd' }, 'body/items/0/body/id must match pattern'],
      [{ ...good, dedupKey: 'k'.repeat(301) }, 'body/items/0/body/dedupKey must NOT have more than 300'],
      [{ ...good, farm: 'hok-farm' }, 'body/items/0/body must NOT have additional properties (farm)'],
    ] as const) {
      const res = await send(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      const problem = (await res.json()) as { code: string; detail: string };
      expect(problem.code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
      expect(problem.detail).toContain(detail);
    }
    expect(tipsRow(open.tip.id).cleared_at).toBeNull();
  });
});

describe('renewed and escalated tips', () => {
  // The paddy water rule renews its tip every 12 h while the level stays out of its band (3–5 cm at
  // panicle initiation: 0.5 cm is advisory, 0 cm — 3 cm out — a warning). On hok-farm, whose own
  // farmer decides, starting two days back so that every renewal lies in the past (under a key of
  // its own: an earlier test left a hok-farm tip under the demo paddy's key).
  const B = NOW - 44 * HOUR;
  let state = emptyTipState();
  /** The escalated tip the first test ends with, open. */
  let escalated: Tip;
  const onHok = (t: Tip): Tip => ({ ...t, farm: 'hok-farm', dedupKey: `${t.dedupKey}:hok` });
  /** One run of the rules at `at` with the paddy at `level` cm: its paddy tip, synced by hok-farm's gateway. */
  async function paddyAt(at: number, level: number, reason: Tip['reason']): Promise<Tip> {
    const r = runRules(state, at, 0.3, level);
    state = r.state;
    const raised = r.raised.filter((t) => t.kind === 'paddy_water');
    expect(raised.map((t) => t.reason)).toEqual([reason]);
    const t = onHok(raised[0]!);
    await sync('gw-hok', [t]);
    return t;
  }
  const view = (t: Tip) => json<TipView>(otherFarmer(`/api/v1/tips/${t.id}`));
  /** The active tips of this test's condition. */
  const activeHere = async () => (await active(otherFarmer)).filter((t) => t.tip.dedupKey.endsWith(':hok'));
  const announced = (since: number) =>
    changes
      .slice(since)
      .filter((c) => c.kind === 'tip')
      .map((c) => c.id);

  it('keep the farmer’s dismissal, with their new evidence, until the tip escalates; then it is news again', async () => {
    tokens['gw-hok'] = server.ctx.auth.issueGatewayToken('gw-hok', 'hok-farm');
    const t1 = await paddyAt(B, 0.5, 'new');
    expect(t1.severity).toBe('advisory');
    // The farmer drains the paddy on purpose and dismisses the tip.
    const dismissed = await json<TipView>(post(otherFarmer, `/api/v1/tips/${t1.id}/dismiss`));
    expect(dismissed).toMatchObject({ state: 'dismissed', stateBy: 'other-farmer' });

    // 12 h on the tip expires with the water still low: the renewal stays dismissed, twice over.
    const t2 = await paddyAt(B + 12 * HOUR, 0.5, 'renewed');
    expect(t2.supersedes).toBe(t1.id);
    const v2 = await view(t2);
    expect(v2).toMatchObject({ state: 'dismissed', stateBy: 'other-farmer', stateAt: dismissed.stateAt });
    expect(v2.tip).toMatchObject({ id: t2.id, created: B + 12 * HOUR, reason: 'renewed' });
    expect(v2.tip.evidence).toEqual(t2.evidence); // the renewal's own numbers
    expect(await activeHere()).toEqual([]);

    // The level drops further: a warning, more than the farmer dismissed — open again, and announced.
    const before = changes.length;
    const t3 = await paddyAt(B + 13 * HOUR, 0, 'escalated');
    expect(t3).toMatchObject({ severity: 'warning', supersedes: t2.id });
    expect(await view(t3)).toMatchObject({ state: 'open', stateBy: null, stateAt: null });
    expect(await view(t2)).toMatchObject({ state: 'superseded', stateBy: `tip ${t3.id}` });
    expect(announced(before)).toEqual([t3.id]);
    escalated = t3;
  });

  it('keep an act through a milder renewal, and do not reopen it when it climbs back to what the farmer saw', async () => {
    const t3 = escalated;
    const acted = await json<TipView>(post(otherFarmer, `/api/v1/tips/${t3.id}/act`));
    expect(acted.state).toBe('acted');

    // Renewed at 1 cm (advisory): still acted, showing the milder tip's own text.
    const t4 = await paddyAt(B + 25 * HOUR, 1, 'renewed');
    expect(t4.severity).toBe('advisory');
    const v4 = await view(t4);
    expect(v4).toMatchObject({ state: 'acted', stateBy: 'other-farmer', stateAt: acted.stateAt });
    expect(v4.tip.title).toEqual(t4.title);
    // Back to a warning: the rule escalates from its advisory, but the farmer has acted on a
    // warning already — kept acted, not announced.
    const before = changes.length;
    const t5 = await paddyAt(B + 26 * HOUR, 0, 'escalated');
    expect(t5.severity).toBe('warning');
    expect(await view(t5)).toMatchObject({ state: 'acted', stateAt: acted.stateAt });
    // Renewed again, 12 h on: still acted, and the one live tip of the condition.
    const t6 = await paddyAt(B + 38 * HOUR, 0, 'renewed');
    expect(await view(t6)).toMatchObject({ state: 'acted', stateAt: acted.stateAt, expired: false });
    expect((await activeHere()).map((t) => [t.tip.id, t.state])).toEqual([[t6.id, 'acted']]);
    // The pages are told of each change (to redraw), never of a new tip: t5 and t6 replace t4 and t5.
    expect(announced(before)).toEqual([t5.id, t6.id]);
  });
});
