// The gateway's status page speaks the page's language: health problems from their codes, events
// from their type and detail, sync and downlink failures (real ones: a refused connection, a name
// that does not resolve, a server that never answers, a certificate the gateway does not trust, a
// revoked token, a 503) as a short sentence with the raw error kept beside it, marked English; and
// values in the farmer's units with the kit's own metric names.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  esc,
  fmtValue,
  metricLabel,
  renderStatusPage,
  serverErrorKind,
  type GatewayStatus,
  type ServerErrorKind,
} from '../../gateway/http.ts';
import { GatewayStore } from '../../gateway/store.ts';
import { SyncClient } from '../../gateway/sync-client.ts';
import { serverFetch } from '../../gateway/server-fetch.ts';
import { englishOutsideLangEn, textOutsideEnglish } from '../helpers/page-language.ts';
import { gatewayStatus, STATUS_NOW } from '../helpers/gateway-status.ts';
import { makeTestCa } from '../helpers/server-front.ts';
import { DEMO_MANIFEST_FILE, quietLog } from '../helpers/stack.ts';
import { demoZones } from '../helpers/recommendation.ts';
import { renderAutomationsPage } from '../../gateway/automations/page.ts';
import type { AutomationsStatus } from '../../gateway/automations/engine.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { loadManifest } from '../../firmware-config/manifest-check.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { InferencePool } from '../../edge/inference/pool.ts';
import { recommend } from '../../edge/recommend/recommend.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';

const NOW = STATUS_NOW;
const dir = mkdtempSync(join(tmpdir(), 'hatake-status-page-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const status = gatewayStatus;

describe('the English-in-Japanese check the tests below rely on', () => {
  it('finds the English the audit saw, and ignores what is marked lang="en", ids and units', () => {
    expect(englishOutsideLangEn('<p>⚠️ 要確認: server unreachable</p>')).toEqual(['server unreachable']);
    expect(englishOutsideLangEn('<li>1分前 soil-1 has sent nothing for 10 min</li>')).toEqual([
      'has sent nothing for',
    ]);
    expect(
      englishOutsideLangEn(
        '<td>soil-1<br><small>hatake-soil-probe</small></td><td>3.30 V<br>-80 dBm / 5 dB</td><small lang="en">fetch failed: connect ECONNREFUSED</small>',
      ),
    ).toEqual([]);
  });
});

describe('health problems', () => {
  const problems: GatewayStatus['health'] = {
    ok: false,
    problems: [
      'disk full',
      'sync stopped: token refused',
      'downlink stopped: token refused',
      'silent: soil-1, level-1',
      'valve gate-2 never reported closed',
    ],
    issues: [
      { code: 'disk_full' },
      { code: 'sync_stopped' },
      { code: 'downlink_stopped' },
      { code: 'devices_silent', devices: ['soil-1', 'level-1'] },
      { code: 'valve_not_closed', device: 'gate-2' },
    ],
  };

  it('are worded in Japanese from their codes, with no English left', () => {
    const html = renderStatusPage(status({ health: problems }), 'ja');
    expect(html).toContain('⚠️ 要確認');
    expect(html).toContain('<li>ディスクが満杯です。新しいデータを受け付けていません</li>');
    expect(html).toContain('<li>応答のないセンサー: soil-1、level-1</li>');
    expect(html).toContain('<li>バルブ gate-2 が閉じたと報告しません。現地で確認してください</li>');
    expect(html.match(/トークンを拒否したため/g)).toHaveLength(2);
    expect(englishOutsideLangEn(html)).toEqual([]);
  });

  it('read in English with the switch', () => {
    const html = renderStatusPage(status({ health: problems }), 'en');
    expect(html).toContain('⚠️ Needs attention');
    expect(html).toContain('<li>Silent sensors: soil-1, level-1</li>');
    expect(html).toContain('<li>Valve gate-2 never reported closed; check it on site</li>');
  });

  it('fall back to the English line, marked English, for a code the page does not know or a status without codes', () => {
    const unknown = renderStatusPage(
      status({
        health: { ok: false, problems: ['something new'], issues: [{ code: 'brand_new' } as never] },
      }),
      'ja',
    );
    expect(unknown).toContain('<li><span lang="en">something new</span></li>');
    const old = renderStatusPage(status({ health: { ok: false, problems: ['server unreachable'] } }), 'ja');
    expect(old).toContain('<li><span lang="en">server unreachable</span></li>');
    expect(englishOutsideLangEn(unknown)).toEqual([]);
  });

  it('escape hostile device ids', () => {
    const evil = '<img src=x onerror=alert(1)>';
    for (const lang of ['ja', 'en'] as const) {
      const html = renderStatusPage(
        status({
          health: {
            ok: false,
            problems: ['x', 'y'],
            issues: [
              { code: 'devices_silent', devices: [evil, `"><x-evil>`] },
              { code: 'valve_not_closed', device: `</li><x-evil>` },
            ],
          },
        }),
        lang,
      );
      expect(html).not.toMatch(/<img src=x|<x-evil/);
      expect(html).toContain(esc(evil));
    }
  });
});

describe('gateway events', () => {
  const ev = (
    type: string,
    message: string,
    detail?: NonNullable<GatewayStatus['events'][number]['detail']>,
    device?: string,
  ): GatewayStatus['events'][number] => ({
    time: NOW - 60_000,
    type,
    severity: 'warning',
    message,
    ...(device ? { device } : {}),
    ...(detail ? { detail } : {}),
  });
  const events = [
    ev(
      'device_silent',
      'soil-1 has sent nothing for 10 min (expected every 60 s)',
      { lastSeen: NOW - 60_000 - 10 * 60_000, intervalS: 60 },
      'soil-1',
    ),
    ev('downlink_applied', 'applied registry registry v2: registry with 4 devices', {
      kind: 'registry',
      id: 'registry',
      version: 2,
    }),
    ev('downlink_applied', 'applied recommendation rec-9 v3: recommendation rec-9 (rejected)', {
      kind: 'recommendation',
      id: 'rec-9',
      version: 3,
      status: 'rejected',
    }),
    ev('downlink_applied', 'applied automation auto-1 v7: automation auto-1 removed', {
      kind: 'automation',
      id: 'auto-1',
      version: 7,
      deleted: true,
    }),
    ev('downlink_refused', 'refused model soil-n v3: signature does not verify with the server key', {
      kind: 'model',
      id: 'soil-n',
      version: 3,
      code: 'HATAKE_E_MODEL_INTEGRITY',
    }),
    ev('downlink_refused', 'scene s2-1 v4 could not be processed: no band B08', {
      kind: 'scene',
      id: 's2-1',
      version: 4,
      code: 'HATAKE_E_IMAGERY_BANDS',
      reason: 'no band B08',
    }),
    ev('clock_skew', "the gateway clock is 90 s off the server's", { offsetMs: 90_000 }),
    ev('disk_full', "only 12 MB free on the gateway's disk; new readings are refused", {
      fsFreeBytes: 12e6,
      dbBytes: 1e6,
      budgetBytes: 1e9,
      fsLow: true,
      atRetentionFloor: false,
      floorDays: 14,
    }),
    ev('disk_ok', 'disk space is back; readings are accepted again', { fsFreeBytes: 1e9 }),
    ev('retention_shortened', 'the database reached 90 % …', {
      rawRetentionDays: 20,
      configuredRawDays: 90,
      floorDays: 14,
      atFloor: true,
    }),
    ev('retention_restored', 'raw readings are kept for the configured 90 days again', {
      rawRetentionDays: 90,
    }),
  ];

  it('are worded in Japanese from type and detail; why something was refused stays beside it, marked English', () => {
    const html = renderStatusPage(status({ events }), 'ja');
    expect(html).toContain('soil-1 から10分間データが届いていません（通常は60秒ごと）');
    expect(html).toContain('サーバーから届いた機器の登録を適用しました（registry、版 2）');
    expect(html).toContain('サーバーが取り下げた自動化を外しました（auto-1、版 7）');
    expect(html).toContain('施肥の推奨（rec-9、版 3）の審査結果「差し戻し」を受け取りました');
    expect(html).not.toContain('rec-9、版 3）を適用しました');
    expect(html).toContain(
      'サーバーから届いたモデルを受け付けませんでした（soil-n、版 3）。前の版のまま動作しています<br><small lang="en">refused model soil-n v3: signature does not verify with the server key</small>',
    );
    expect(html).toContain('サーバーから届いた衛星画像を処理できませんでした（s2-1、版 4）');
    expect(html).toContain('サーバーの時計がゲートウェイより90秒進んでいます');
    expect(html).toContain('ゲートウェイのディスクの空きが12 MBしかありません');
    expect(html).toContain('ディスクの空きが戻りました');
    expect(html).toContain('これが下限（14日）です');
    expect(html).toContain('生データを再び設定どおり90日間保存しています');
    expect(html).not.toContain('applied registry');
    expect(englishOutsideLangEn(html)).toEqual([]);
  });

  it('read in English with the switch', () => {
    const html = renderStatusPage(status({ events }), 'en');
    expect(html).toContain('soil-1 has sent nothing for 10 min (expected every 60 s)');
    expect(html).toContain('Applied the device registry sent by the server (registry, version 2)');
    expect(html).toContain('The server’s clock is 90 s ahead of the gateway’s');
  });

  it('of a type the page does not know, or without the detail it needs, keep their English message, marked English', () => {
    const html = renderStatusPage(
      status({
        events: [
          ev('battery_low', 'soil-1 battery at 2.9 V'),
          ev('device_silent', 'soil-2 has sent nothing for 30 min', {}, 'soil-2'),
        ],
      }),
      'ja',
    );
    expect(html).toContain('<span lang="en">soil-1 battery at 2.9 V</span>');
    expect(html).toContain('<span lang="en">soil-2 has sent nothing for 30 min</span>');
    expect(englishOutsideLangEn(html)).toEqual([]);
  });

  it('escape hostile ids and kinds in their detail', () => {
    const html = renderStatusPage(
      status({
        events: [
          ev('device_silent', 'm', { lastSeen: NOW - 600_000, intervalS: 60 }, '<x-evil1>'),
          ev('downlink_applied', 'm', { kind: '<x-evil2>', id: '"><x-evil3>', version: 1 }),
          ev('downlink_refused', '<x-evil4>', { kind: 'model', id: 'm', version: 1 }),
        ],
      }),
      'ja',
    );
    expect(html).not.toMatch(/<x-evil/);
    expect(textOutsideEnglish(html)).toContain('<x-evil1> から');
  });
});

/** The uplink's last error after one real attempt against `url`. */
async function syncError(url: string, opts: { ca?: string } = {}): Promise<string> {
  const store = new GatewayStore(join(dir, `${Math.random().toString(36).slice(2)}.db`));
  store.enqueue(
    'event',
    { id: 'status-page-test-1', type: 'disk_ok', severity: 'info', time: NOW, message: 'x' },
    NOW,
  );
  const sync = new SyncClient(
    store,
    {
      gatewayId: 'gw-1',
      url,
      token: 'a-token',
      intervalMs: 60_000,
      batchMaxItems: 10,
      requestTimeoutMs: 500,
      fetch: serverFetch({ url, ...opts }),
    },
    quietLog(),
  );
  try {
    await sync.drain();
    return sync.status.lastError ?? 'no error';
  } finally {
    await sync.stop();
    store.close();
  }
}

const listening = (server: Server | ReturnType<typeof createTcpServer>) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );

describe('sync and downlink failures', () => {
  const servers: { close(): unknown }[] = [];
  const sockets = new Set<Socket>();
  afterAll(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });
  const answering = async (status: number) => {
    const server = createHttpServer((_req, res) => res.writeHead(status).end('{"code":"HATAKE_E_AUTH"}'));
    servers.push(server);
    return `http://127.0.0.1:${await listening(server)}`;
  };

  /** Each real failure: its kind, and the Japanese sentence the page leads with. */
  const cases: [string, () => Promise<string>, ServerErrorKind, string][] = [
    [
      'a refused connection',
      async () => {
        const probe = createTcpServer();
        const port = await listening(probe);
        await new Promise((r) => probe.close(r));
        return `http://127.0.0.1:${port}`;
      },
      'refused',
      'サーバーに接続できません',
    ],
    [
      'a name that does not resolve',
      async () => 'http://hatake-server.invalid',
      'dns',
      'サーバーの名前が見つかりません',
    ],
    [
      'a server that never answers',
      async () => {
        const silent = createTcpServer((s) => void sockets.add(s));
        servers.push(silent);
        return `http://127.0.0.1:${await listening(silent)}`;
      },
      'timeout',
      'サーバーから時間内に応答がありません',
    ],
    [
      'a certificate the gateway does not trust',
      async () => {
        const { server } = await makeTestCa();
        const https = createHttpsServer({ cert: server.cert, key: server.key }, (_q, r) => r.end());
        servers.push(https);
        return `https://127.0.0.1:${await listening(https)}`;
      },
      'certificate',
      'サーバーの証明書を確認できません',
    ],
    [
      'a revoked token (401)',
      () => answering(401),
      'token',
      'サーバーがこのゲートウェイのトークンを拒否しました',
    ],
    ['a server error (503)', () => answering(503), 'server', 'サーバー側でエラーが起きています'],
  ];

  for (const [what, serve, kind, sentence] of cases) {
    it(`says ${what} in Japanese, with the raw error kept beside it`, async () => {
      const raw = await syncError(await serve());
      expect(serverErrorKind(raw)).toBe(kind);
      const sync = { ...status().sync, lastError: raw };
      const ja = renderStatusPage(status({ sync }), 'ja');
      expect(ja).toContain(`<dt>直近のエラー</dt><dd>${sentence}`);
      expect(ja).toContain(`<br><small lang="en">${esc(raw)}</small></dd>`);
      expect(englishOutsideLangEn(ja)).toEqual([]);
      const en = renderStatusPage(status({ sync }), 'en');
      expect(en).toMatch(/<dt>Last error<\/dt><dd>[A-Z][^<]+<br><small lang="en">/);
    }, 15_000);
  }

  it('words a downlink failure and a stopped uplink the same way; an unknown error stays as it is, marked English', () => {
    const sync = {
      ...status().sync,
      downlinkError: 'downlink: The operation was aborted due to timeout',
      stopped: 'HTTP 401: {"code":"HATAKE_E_AUTH"}',
      lastError: 'something nobody foresaw',
    };
    const html = renderStatusPage(status({ sync }), 'ja');
    expect(html).toContain(
      'サーバーから時間内に応答がありません<br><small lang="en">downlink: The operation',
    );
    expect(html).toContain('<b>サーバーがこのゲートウェイのトークンを拒否しました');
    expect(html).toContain('<dd><span lang="en">something nobody foresaw</span></dd>');
    expect(englishOutsideLangEn(html)).toEqual([]);
  });
});

describe('values and labels', () => {
  it('prints no unit "1", a valve as open or closed, soil moisture in %', () => {
    expect(fmtValue('soil_permittivity', 2400, '1', 'ja')).toBe('2400');
    expect(fmtValue('valve_state', 1, '1', 'ja')).toBe('開');
    expect(fmtValue('valve_state', 0, '1', 'en')).toBe('closed');
    expect(fmtValue('soil_vwc', 0.183, 'm3/m3', 'ja')).toBe('18.3 %');
    expect(fmtValue('air_temperature', 21.46, 'degC', 'en')).toBe('21.5 °C');
  });

  it("labels a kit's own metric with the kit's name for it, else its id", () => {
    const name = { ja: '外付け温度センサー (DS18B20)', en: 'External probe temperature (DS18B20)' };
    expect(metricLabel('probe_temperature', 'ja', name)).toBe(name.ja);
    expect(metricLabel('probe_temperature', 'en', name)).toBe(name.en);
    expect(metricLabel('probe_temperature', 'ja')).toBe('probe_temperature');
    expect(metricLabel('soil_vwc', 'ja', { ja: 'x', en: 'x' })).toBe('土壌水分');
  });

  it('shows them so in the sensor table', () => {
    const html = renderStatusPage(
      status({
        devices: [
          {
            id: 'gate-1',
            kit: 'hatake-water-gate',
            lastSeen: NOW,
            online: true,
            silent: false,
            battery: null,
            rssi: null,
            snr: null,
            latest: [
              { metric: 'valve_state', value: 1, unit: '1', time: NOW, flags: [] },
              { metric: 'soil_permittivity', value: 2400, unit: '1', time: NOW, flags: [] },
            ],
          },
        ],
      }),
      'ja',
    );
    expect(html).toContain('弁の状態: <b>開</b>');
    expect(html).toContain('土壌誘電率: <b>2400</b>');
    expect(html).not.toContain('2400 1');
  });
});

// ---------------------------------------------------------------------------------------------
// Names where the status has ids: the demo farm's real manifest and the real kit catalogue, and a
// real SBNRC recommendation (three zones of upland-1) approved with an officer's edit.
// ---------------------------------------------------------------------------------------------

const catalogue = loadCatalogue();
const manifest = loadManifest(DEMO_MANIFEST_FILE, { catalogue });

/** A real recommendation with different rates per zone (low NDVI against the N-rich strip). */
async function sbnrcRecommendation(): Promise<Recommendation> {
  const reg = new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
  const pool = await InferencePool.start({ size: 1 });
  try {
    await pool.load(reg.load('osu-sbnrc@1.0.0'));
    return await recommend(pool, {
      farm: 'demo-farm',
      card: reg.entry('osu-sbnrc@1.0.0').card,
      profile: reg.profile('winter-wheat-osu-2007'),
      zones: demoZones([0.35, 0.45, 0.55]),
      fieldAttributes: { days_gdd_positive: { value: 90, time: NOW - 3_600_000, source: 'test' } },
      reference: { kind: 'n_rich_strip', values: { ndvi: 0.7 }, time: NOW - 86_400_000, source: 'strip' },
      now: NOW - 3_600_000,
      by: 'gateway gw-1',
    });
  } finally {
    await pool.close();
  }
}

/** A number as the page writes it: at most `d` decimals, no trailing zeros. */
const shown = (v: number, d: number) => String(Math.round(v * 10 ** d) / 10 ** d);

const device = (id: string, kit: string): GatewayStatus['devices'][number] => ({
  id,
  kit,
  lastSeen: null,
  online: null,
  silent: false,
  battery: null,
  rssi: null,
  snr: null,
  latest: [],
});

describe('names from the farm manifest and the catalogue', () => {
  const devices = [device('soil-1', 'hatake-soil-probe'), device('lse-9', 'dragino-lse01')];

  it("shows a device by its name and field first, its id and kit's name small beside them", () => {
    const ja = renderStatusPage(status({ devices }), 'ja', { manifest, catalogue });
    expect(ja).toContain(
      '土壌センサー 畑1号<br><span class="sub">畑1号（小麦）</span><br><small>soil-1 · 土壌センサー（水分・地温・EC）</small>',
    );
    // A registered device the manifest does not name: its id first, the kit's name small.
    expect(ja).toContain('lse-9<br><small>Dragino LSE01 土壌センサー</small>');
    expect(ja).toContain('(はたけデモ農場)</h1>');
    expect(englishOutsideLangEn(ja)).toEqual([]);
    const en = renderStatusPage(status({ devices }), 'en', { manifest, catalogue });
    expect(en).toContain('<small>soil-1 · Soil probe (moisture, temperature, EC)</small>');
    expect(en).toContain('lse-9<br><small>Dragino LSE01 soil sensor</small>');
  });

  it('shows the ids without them', () => {
    const html = renderStatusPage(status({ devices }), 'ja');
    expect(html).toContain('soil-1<br><small>hatake-soil-probe</small>');
    expect(html).not.toContain('土壌センサー 畑1号');
  });

  it('names devices and fields in the health line, the notices, the tips and the refused data', () => {
    const html = renderStatusPage(
      status({
        health: {
          ok: false,
          problems: ['silent: water-1'],
          issues: [{ code: 'devices_silent', devices: ['water-1'] }],
        },
        events: [
          {
            time: NOW - 60_000,
            type: 'device_back',
            severity: 'info',
            message: 'soil-1 is sending again',
            device: 'soil-1',
            detail: { silentMin: 20 },
          },
        ],
        tips: [
          {
            id: 'tip-1',
            kind: 'irrigation',
            severity: 'info',
            field: 'paddy-1',
            title: { ja: '水位', en: 'Water' },
            text: { ja: '確認', en: 'check' },
            created: NOW,
          },
        ],
        deadLetters: [{ time: NOW, device: 'wx-1', topic: 't', code: 'HATAKE_E_PAYLOAD_JSON', reason: 'x' }],
      }),
      'ja',
      { manifest, catalogue },
    );
    expect(html).toContain('<li>応答のないセンサー: 水位センサー 田んぼ1号（water-1）</li>');
    expect(html).toContain('土壌センサー 畑1号（soil-1）から20分ぶりにデータが届きました');
    expect(html).toContain('<b>水位</b> (田んぼ1号（コシヒカリ）)');
    expect(html).toContain('<b>気象ステーション（wx-1）</b>');
  });

  it('escapes hostile names from the manifest and the catalogue', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const hostile = {
      farm: { name: evil },
      fields: [{ id: 'f1', name: evil }],
      devices: [{ id: 'd1', kit: 'k1', field: 'f1', name: `"><x-evil>` }],
    };
    const kits = { get: () => ({ name: { ja: '</th><x-evil>', en: '</th><x-evil>' } }) };
    for (const lang of ['ja', 'en'] as const) {
      const html = renderStatusPage(
        status({
          devices: [device('d1', 'k1')],
          health: { ok: false, problems: ['x'], issues: [{ code: 'devices_silent', devices: ['d1'] }] },
          tips: [
            {
              id: 't',
              kind: 'k',
              severity: 'info',
              field: 'f1',
              title: { ja: 't', en: 't' },
              text: { ja: 't', en: 't' },
              created: NOW,
            },
          ],
          recommendations: [{ id: 'rec-1', field: 'f1', status: 'rejected', totalNKg: null }],
        }),
        lang,
        { manifest: hostile as never, catalogue: kits as never },
      );
      expect(html).not.toContain('<img');
      expect(html).not.toContain('<x-evil>');
      expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    }
  });
});

describe('approved recommendations, per zone', () => {
  let rec: Recommendation;
  /** The document as the gateway keeps it: approved with zone 2 edited, its totals from before the edit. */
  let approved: Recommendation;
  beforeAll(async () => {
    rec = await sbnrcRecommendation();
    const z2 = rec.zones[1]!;
    approved = {
      ...rec,
      status: 'approved',
      zones: rec.zones.map((z) =>
        z === z2
          ? {
              ...z,
              edited: {
                kgNHa: z.rate.kgNHa + 12,
                productKgHa: z.rate.productKgHa + 26.1,
                by: 'o',
                at: NOW,
                reason: 'r',
              },
            }
          : z,
      ),
    };
  }, 60_000);
  const applied = (z: Recommendation['zones'][number]) => z.edited ?? z.rate;
  const line = (r: Recommendation, status = r.status) => ({
    id: r.id,
    field: r.field,
    status,
    totalNKg: r.totals.nKg,
  });

  it('has rates that differ by zone (else the test below shows little)', () => {
    expect(new Set(rec.zones.map((z) => z.rate.kgNHa)).size).toBe(3);
  });

  it('shows the field by name and each zone at its applied rate in kg/10a, with totals from the zones', () => {
    const html = renderStatusPage(status({ recommendations: [line(approved)] }), 'ja', {
      manifest,
      catalogue,
      recommendations: [approved],
    });
    expect(html).toContain('<b>畑1号（小麦） <small>upland-1</small></b>: 承認済み');
    for (const z of approved.zones) {
      const r = applied(z);
      expect(html).toContain(
        `<tr><th scope="row">${z.zone}</th><td>${shown(z.areaHa, 2)} ha</td><td><b>${shown(r.kgNHa / 10, 2)}</b>${z.edited ? ' <small>(修正)</small>' : ''}</td><td><b>${shown(r.productKgHa / 10, 1)}</b></td></tr>`,
      );
    }
    const nKg = approved.zones.reduce((s, z) => s + applied(z).kgNHa * z.areaHa, 0);
    const productKg = approved.zones.reduce((s, z) => s + applied(z).productKgHa * z.areaHa, 0);
    expect(html).toContain(`合計 N ${shown(nKg, 2)} kg・尿素 (N 46%) ${shown(productKg, 1)} kg`);
    // The decision's own total predates the edit: not shown.
    expect(shown(nKg, 2)).not.toBe(String(approved.totals.nKg));
    expect(html).not.toContain(`N ${approved.totals.nKg} kg`);
    expect(html).not.toContain(approved.id);
    expect(englishOutsideLangEn(html)).toEqual([]);
  });

  it('in kg/ha in English', () => {
    const html = renderStatusPage(status({ recommendations: [line(approved)] }), 'en', {
      manifest,
      catalogue,
      recommendations: [approved],
    });
    expect(html).toContain('Nitrogen (N)<br><small>kg/ha</small>');
    for (const z of approved.zones) {
      const r = applied(z);
      expect(html).toContain(
        `<td><b>${shown(r.kgNHa, 1)}</b>${z.edited ? ' <small>(edited)</small>' : ''}</td><td><b>${shown(r.productKgHa, 1)}</b></td>`,
      );
    }
    expect(html).toContain('Urea (46% N)<br><small>kg/ha</small>');
  });

  it('with the part of the field no zone covers at the zones’ mean rate', () => {
    const covered: Recommendation = {
      ...approved,
      coverage: {
        field: approved.zones[0]!.geometry,
        fieldAreaHa: 1.5,
        uncovered: approved.zones[0]!.geometry,
        uncoveredAreaHa: 0.18,
      },
    };
    const html = renderStatusPage(status({ recommendations: [line(covered)] }), 'ja', {
      manifest,
      recommendations: [covered],
    });
    const area = covered.zones.reduce((s, z) => s + z.areaHa, 0);
    const meanN = covered.zones.reduce((s, z) => s + applied(z).kgNHa * z.areaHa, 0) / area;
    expect(html).toContain(
      `<tr><th scope="row">ゾーン外</th><td>0.18 ha</td><td><b>${shown(meanN / 10, 2)}</b></td>`,
    );
    expect(html).toContain(
      'ゾーン外（雲などで画像が使えない部分や、境界沿いの細い帯）は各ゾーンの平均の量。合計はそれも含めた圃場全体の分です',
    );
    // The totals are what the files spread: the zones and the rest at the zones' mean rate.
    const zonesN = covered.zones.reduce((s, z) => s + applied(z).kgNHa * z.areaHa, 0);
    const zonesP = covered.zones.reduce((s, z) => s + applied(z).productKgHa * z.areaHa, 0);
    const meanP = zonesP / area;
    expect(html).toContain(
      `合計 N ${shown(zonesN + meanN * 0.18, 2)} kg・尿素 (N 46%) ${shown(zonesP + meanP * 0.18, 1)} kg`,
    );
    expect(html).not.toContain(`合計 N ${shown(zonesN, 2)} kg`);
  });

  it('shows a rejected one, or one whose document is not there, by its status only', () => {
    const html = renderStatusPage(
      status({
        recommendations: [
          line(rec, 'rejected'),
          line({ ...rec, id: 'rec-gone', field: 'paddy-1' }, 'approved'),
        ],
      }),
      'ja',
      { manifest, recommendations: [{ ...rec, status: 'rejected' }] },
    );
    expect(html).toContain('<li><b>畑1号（小麦） <small>upland-1</small></b>: 却下 — N ');
    expect(html).toContain('<li><b>田んぼ1号（コシヒカリ） <small>paddy-1</small></b>: 承認済み — N ');
    expect(html).not.toContain('class="zones"');
  });

  it('names the field, not the recommendation id, in the notice of a decision applied', () => {
    const event = (id: string): GatewayStatus['events'][number] => ({
      time: NOW - 60_000,
      type: 'downlink_applied',
      severity: 'info',
      message: `applied recommendation ${id} v9: kept`,
      detail: { kind: 'recommendation', id, version: 9 },
    });
    const ctx = { manifest, recommendations: [approved] };
    const ja = renderStatusPage(status({ events: [event(approved.id), event('rec-gone')] }), 'ja', ctx);
    expect(ja).toContain('サーバーから届いた施肥の推奨を適用しました（畑1号（小麦）、版 9）');
    expect(ja).not.toContain(approved.id);
    // One the gateway no longer keeps: its id is all there is.
    expect(ja).toContain('サーバーから届いた施肥の推奨を適用しました（rec-gone、版 9）');
    const en = renderStatusPage(status({ events: [event(approved.id)] }), 'en', ctx);
    expect(en).toContain(
      'Applied the fertilization recommendation sent by the server (畑1号（小麦）, version 9)',
    );
  });
});

describe('the manual-override form', () => {
  const empty = { timezone: 'Asia/Tokyo', automations: [], actuators: [], logs: [] } as AutomationsStatus;
  it('says how to print the override code, in both languages', () => {
    const command =
      '<code lang="en" translate="no">hatake gateway override-code --config gateway.yaml</code>';
    const ja = renderAutomationsPage(empty, 'ja', { gateway: 'gw-1' });
    expect(ja).toContain('手動操作コード');
    expect(ja).toContain('ゲートウェイで次のコマンドを実行すると表示されます');
    expect(ja).toContain(command);
    expect(englishOutsideLangEn(ja)).toEqual([]);
    const en = renderAutomationsPage(empty, 'en', { gateway: 'gw-1' });
    expect(en).toContain('run this on the gateway');
    expect(en).toContain(command);
  });
});
