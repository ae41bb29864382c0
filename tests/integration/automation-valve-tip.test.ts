// A valve that never reported closed reaches the farmer: when a gateway's synced automation logs
// say it gave up closing a gate (the engine's only critical log — water may still be flowing), the
// server raises one critical tip for the farm, in Japanese first with the gate's and the
// automation's names, listed with the farm's tips and pushed by the farm's `tip.created` webhook to
// a real HTTP receiver. A resent batch, the same give-up logged under another automation of the
// gate, or another give-up while the fault holds raise nothing more; ordinary logs — a safety stop
// at the maximum open time, a give-up on an opening — raise nothing; the gate's report that it
// closed again clears the tip, after which a new fault is news again.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { AutomationLog } from '../../protocol/automation.ts';
import { Tip } from '../../protocol/tip.ts';
import {
  WebhookPayload,
  type AutomationView,
  type DeliveryView,
  type TipView,
  type WebhookView,
} from '../../protocol/review.ts';
import { validator } from '../../protocol/validate.ts';
import { demoManifest, eventually, signIn, startServer } from '../helpers/stack.ts';

process.env.HATAKE_WEBHOOK_ALLOW_PRIVATE = '1'; // the receiver listens on 127.0.0.1

const MIN = 60_000;
const T = Math.floor(Date.now() / MIN) * MIN - 3 * 60 * MIN;
let server: HatakeServer;
let url: string;
let dir: string;
let token: string;
let seq = 0;
type Fetch = Awaited<ReturnType<typeof signIn>>;
let farmer: Fetch;
let paddy: AutomationView;
let second: AutomationView;
let hook: WebhookView;
const got: { event: string; body: string }[] = [];
let receiver: Server;

function manifest(): Manifest {
  const m = demoManifest();
  m.devices.push({ id: 'gate-2', kit: 'hatake-water-gate', field: 'paddy-1', name: '水口' });
  return m;
}

async function sync(items: { kind: string; body: unknown }[]) {
  const from = ++seq;
  seq += items.length - 1;
  const batch = {
    gateway: 'gw-1',
    seqFrom: from,
    seqTo: seq,
    sentAt: Date.now(),
    items: items.map((it, i) => ({ seq: from + i, ...it })),
  };
  await resend(batch);
  return batch;
}
async function resend(batch: unknown) {
  const res = await fetch(`${url}/api/v1/sync`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(batch),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}
const syncLogs = (...logs: AutomationLog[]) => sync(logs.map((body) => ({ kind: 'automation_log', body })));

async function json<T>(res: Response | Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  const text = await r.text();
  expect(r.status, text).toBe(status);
  return JSON.parse(text) as T;
}
const post = (path: string, body: unknown) =>
  farmer(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const valveTips = async (view: 'active' | 'history' = 'active') =>
  (await json<TipView[]>(farmer(`/api/v1/tips?farm=demo-farm&view=${view}`))).filter(
    (v) => v.tip.kind === 'valve_not_closed',
  );
const deliveries = () => json<DeliveryView[]>(farmer(`/api/v1/webhooks/${hook.id}/deliveries`));

let n = 0;
/** A log as the gateway's engine writes it (gateway/automations/run.ts, engine.ts). */
function log(
  automation: string,
  time: number,
  event: AutomationLog['event'],
  over: Partial<AutomationLog> = {},
) {
  n++;
  const l: AutomationLog = {
    id: `log-valve-${String(n).padStart(4, '0')}`,
    automation,
    time,
    event,
    device: 'gate-2',
    message: `${event} / ${event}`,
    ...over,
  };
  return l;
}
/** The critical give-up: the close after the maximum open time was never confirmed. */
const neverClosed = (automation: string, time: number, id?: string) =>
  log(automation, time, 'gave_up', {
    ...(id ? { id } : {}),
    message: '【重要】gate-2 が閉じたと報告しません / CRITICAL: gate-2 never reported closed',
    text: {
      ja: '【重要】gate-2 が閉じたと報告しません（「close」を 2 回送信）。現地で確認してください',
      en: 'CRITICAL: gate-2 never reported closed after 2 × "close"; check it on site',
    },
    detail: {
      severity: 'critical',
      reason: 'never_reported_closed',
      command: 'close',
      attempts: 2,
      closeReason: 'safety',
    },
  });
const reportedClosed = (automation: string, time: number) =>
  log(automation, time, 'closed', { detail: { metric: 'valve_state', value: 0, reason: 'fault_cleared' } });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-valve-tip-'));
  ({ server, url } = await startServer(dir));
  token = server.ctx.auth.issueGatewayToken('gw-1', 'demo-farm');
  await sync([{ kind: 'manifest', body: manifest() }]);
  farmer = await signIn(url, 'demo-farmer');
  const band = {
    farm: 'demo-farm',
    field: 'paddy-1',
    enabled: true,
    trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
    below: { device: 'gate-2', command: 'open' },
    above: { device: 'gate-2', command: 'close' },
    limits: { maxRunsPerDay: 12, maxOpenMinutes: 20, confirmSeconds: 30, retries: 1 },
  };
  paddy = await json<AutomationView>(
    post('/api/v1/automations', {
      ...band,
      name: { ja: '田んぼ1号の水位 3〜5 cm', en: 'Paddy 1 water level 3–5 cm' },
    }),
    201,
  );
  second = await json<AutomationView>(
    post('/api/v1/automations', { ...band, enabled: false, name: { ja: '予備', en: 'Spare' } }),
    201,
  );
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({
        event: String(req.headers['x-hatake-event']),
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hook = await json<WebhookView>(
    post('/api/v1/webhooks', {
      farm: 'demo-farm',
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hatake`,
      events: ['tip.created'],
    }),
    201,
  );
});
afterAll(async () => {
  await server?.close();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('a valve that never reported closed', () => {
  it('raises nothing for the ordinary logs of a run, a safety stop or a give-up on an opening', async () => {
    await syncLogs(
      log(paddy.id, T, 'fired', { device: 'water-1', detail: { value: 2.5 } }),
      log(paddy.id, T + 1000, 'command_sent', { detail: { command: 'open', attempt: 1 } }),
      log(paddy.id, T + 20_000, 'state_confirmed', { detail: { metric: 'valve_state', value: 1 } }),
      log(paddy.id, T + 20 * MIN, 'safety_stop', { detail: { maxOpenMinutes: 20, confirmedOpen: true } }),
      log(paddy.id, T + 20 * MIN, 'command_sent', {
        detail: { command: 'close', attempt: 1, reason: 'safety' },
      }),
      log(paddy.id, T + 20 * MIN + 30_000, 'closed', {
        detail: { metric: 'valve_state', value: 0, reason: 'safety' },
      }),
      // An opening never confirmed: the gateway closes to be safe — a warning, not a stuck valve.
      log(paddy.id, T + 30 * MIN, 'gave_up', {
        detail: { command: 'open', attempts: 2, severity: 'warning' },
      }),
    );
    expect(await valveTips('history')).toEqual([]);
    expect(await deliveries()).toEqual([]);
  });

  it('raises one critical tip, in Japanese first with the gate and the automation, pushed once by webhook', async () => {
    const at = T + 60 * MIN;
    const batch = await syncLogs(
      log(paddy.id, at - MIN, 'safety_stop', { detail: { maxOpenMinutes: 20, confirmedOpen: true } }),
      log(paddy.id, at - 30_000, 'retry', { detail: { command: 'close', attempt: 2, of: 2 } }),
      neverClosed(paddy.id, at, 'log-valve-stuck-1'),
    );
    const tips = await valveTips();
    expect(tips).toHaveLength(1);
    const v = tips[0]!;
    expect(validator(Tip).problems(v.tip)).toEqual([]);
    expect(v).toMatchObject({ state: 'open', expired: false, cleared: null, automatable: false });
    expect(v.tip).toMatchObject({
      kind: 'valve_not_closed',
      severity: 'severe',
      farm: 'demo-farm',
      field: 'paddy-1',
      devices: ['gate-2'],
      created: at,
      dedupKey: 'valve_not_closed:demo-farm:gate-2',
      action: { type: 'valve', device: 'gate-2', command: 'close' },
    });
    expect(v.tip.title.ja).toBe('田んぼ1号（コシヒカリ）の水口が閉まったことを確認できません');
    expect(v.tip.text.ja).toContain('自動制御「田んぼ1号の水位 3〜5 cm」が最大開放時間の20分に達したため');
    expect(v.tip.text.ja).toContain('閉じる指示を2回送りましたが、閉まったという報告が届きません');
    expect(v.tip.text.ja).toContain('現地で確認し');
    expect(v.tip.text.en).toContain(
      'The automation "Paddy 1 water level 3–5 cm" sent 水口 (田んぼ1号（コシヒカリ）)',
    );
    expect(v.tip.expires).toBeGreaterThan(Date.now());
    // It leads the farm's tips: most severe first.
    expect((await json<TipView[]>(farmer('/api/v1/tips?farm=demo-farm')))[0]!.tip.id).toBe(v.tip.id);

    const d = await deliveries();
    expect(d.map((x) => x.eventId)).toEqual([`tip.created:demo-farm:${v.tip.id}`]);
    await eventually(() => got.length === 1);
    expect(got[0]!.event).toBe('tip.created');
    const payload = JSON.parse(got[0]!.body) as WebhookPayload;
    expect(validator(WebhookPayload).problems(payload)).toEqual([]);
    expect(payload).toMatchObject({
      event: 'tip.created',
      farm: 'demo-farm',
      data: {
        tip: {
          id: v.tip.id,
          kind: 'valve_not_closed',
          severity: 'severe',
          field: 'paddy-1',
          title: { ja: '田んぼ1号（コシヒカリ）の水口が閉まったことを確認できません' },
        },
      },
    });

    // The batch resent (its acknowledgement lost), and the same give-up logged under the gate's
    // other automation (the engine logs a manual hold's events under each): nothing more.
    await resend(batch);
    await syncLogs(neverClosed(second.id, at));
    // Another give-up while the fault holds (a manual close tried again): the same condition.
    await syncLogs(neverClosed(paddy.id, at + 10 * MIN));
    expect((await valveTips()).map((x) => x.tip.id)).toEqual([v.tip.id]);
    expect((await valveTips('history')).map((x) => x.tip.id)).toEqual([v.tip.id]);
    expect(await deliveries()).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toHaveLength(1);
  });

  it('clears the tip when the gate reports closed again; a later fault is news again', async () => {
    const [stuck] = await valveTips();
    await syncLogs(reportedClosed(paddy.id, T + 90 * MIN), reportedClosed(second.id, T + 90 * MIN));
    expect(await valveTips()).toEqual([]);
    const history = await valveTips('history');
    expect(history.map((x) => [x.tip.id, x.cleared])).toEqual([
      [stuck!.tip.id, new Date(T + 90 * MIN).toISOString()],
    ]);

    // A give-up and the gate's report that it closed, arriving together (the gateway was
    // offline): the water has stopped — nothing to push.
    await syncLogs(neverClosed(paddy.id, T + 100 * MIN), reportedClosed(paddy.id, T + 101 * MIN));
    expect(await valveTips()).toEqual([]);
    expect(await deliveries()).toHaveLength(1);

    // Stuck again later: a new tip, pushed.
    await syncLogs(neverClosed(paddy.id, T + 120 * MIN));
    const again = await valveTips();
    expect(again).toHaveLength(1);
    expect(again[0]!.tip.id).not.toBe(stuck!.tip.id);
    expect(again[0]!.tip.created).toBe(T + 120 * MIN);
    expect((await deliveries()).map((x) => x.eventId).sort()).toEqual(
      [stuck!.tip.id, again[0]!.tip.id].map((id) => `tip.created:demo-farm:${id}`).sort(),
    );
    await eventually(() => got.length === 2);
  });
});
