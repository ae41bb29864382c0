// A gateway's alerts on the partner page (dashboard/ui/gateway-alerts.ts): the gateway writes each
// event in English and sends its numbers as the detail; the page says each type in the reader's
// language from that detail, with times in minutes, hours or days and sizes in MB as the gateway's
// settings count them — and keeps the gateway's English, marked, for a type it has no sentence for
// or a detail that lacks what the sentence needs. The events here have the shapes the gateway
// raises them in (gateway/maintenance.ts, gateway/downlink-client.ts, gateway/gateway.ts); the
// integration test (tests/integration/partner-api.test.ts) holds the page to events a real
// gateway raised.
import { describe, expect, it } from 'vitest';
import {
  GATEWAY_ALERT_TYPES,
  alertText,
  fill,
  fmtDuration,
  fmtMegabytes,
  gatewayNotSyncingText,
  partsText,
} from '../../dashboard/ui/gateway-alerts.ts';
import { translate, type Lang } from '../../dashboard/ui/i18n.ts';
import type { GatewayAlert } from '../../protocol/views.ts';

const T = Date.parse('2025-05-01T03:00:00Z');
const MIB = 1024 * 1024;
const alert = (type: string, detail?: GatewayAlert['detail'], device: string | null = null) => ({
  type,
  device,
  time: new Date(T).toISOString(),
  message: `the gateway's own words about ${type}`,
  ...(detail ? { detail } : {}),
});
const say = (a: ReturnType<typeof alert>, lang: Lang) => {
  const r = alertText(a, lang, (k) => translate(lang, k));
  return r && { ...r, text: partsText(r.parts) };
};

/** One event of every type, as the gateway raises it. */
const ONE_OF_EACH = {
  device_silent: alert('device_silent', { lastSeen: T - 10 * 60_000, intervalS: 60 }, 'soil-1'),
  device_back: alert('device_back', { silentSince: T - 2 * 60_000, lastSeen: T - 12 * 60_000 }, 'soil-1'),
  battery_low: alert('battery_low', undefined, 'soil-1'),
  clock_skew: alert('clock_skew', { offsetMs: 125_000 }),
  disk_full: alert('disk_full', {
    fsFreeBytes: 3.5 * MIB,
    dbBytes: 500 * MIB,
    budgetBytes: 512 * MIB,
    atRetentionFloor: false,
  }),
  disk_ok: alert('disk_ok', { fsFreeBytes: 2048 * MIB }),
  retention_shortened: alert('retention_shortened', {
    rawRetentionDays: 12.5,
    configuredRawDays: 30,
    floorDays: 14,
    atFloor: false,
    rolledBefore: T - 12.5 * 86_400_000,
    rolledReadings: 5000,
    dbBytes: 470 * MIB,
    budgetBytes: 512 * MIB,
  }),
  retention_restored: alert('retention_restored'),
  downlink_applied: alert('downlink_applied', { kind: 'config', id: 'gateway', version: 3 }),
  downlink_refused: alert('downlink_refused', {
    kind: 'config',
    id: 'gateway',
    version: 4,
    code: 'HATAKE_E_CONFIG',
  }),
} satisfies Record<(typeof GATEWAY_ALERT_TYPES)[number], unknown>;

describe('a gateway alert in the reader’s language', () => {
  it('has a sentence for every type the gateway raises, Japanese in Japanese (names and MB aside)', () => {
    expect(Object.keys(ONE_OF_EACH).sort()).toEqual([...GATEWAY_ALERT_TYPES].sort());
    for (const [type, a] of Object.entries(ONE_OF_EACH)) {
      const ja = say(a, 'ja');
      const en = say(a, 'en');
      expect(ja, type).toBeDefined();
      expect(en, type).toBeDefined();
      const own = ja!.parts.filter((p) => typeof p === 'string').join('');
      expect(own, type).toMatch(/[\u3040-\u30ff\u3400-\u9fff]/);
      expect(own.replace(/\bMB\b/g, '').match(/[A-Za-z]{2,}/g), `${type}: ${own}`).toBeNull();
      expect(en!.text, type).not.toBe(ja!.text);
    }
  });

  it('says how long a device has been silent and how often it reports, in minutes, hours or days', () => {
    expect(say(ONE_OF_EACH.device_silent, 'ja')!.text).toBe(
      'soil-1 から10分データが届いていません（通常は60秒ごと）',
    );
    expect(say(ONE_OF_EACH.device_silent, 'en')!.text).toBe(
      'soil-1 has sent nothing for 10 minutes (expected every 60 seconds)',
    );
    const hours = alert('device_silent', { lastSeen: T - 3.25 * 3_600_000, intervalS: 600 }, 'wx-1');
    expect(say(hours, 'ja')!.text).toBe('wx-1 から3.3時間データが届いていません（通常は10分ごと）');
    expect(say(hours, 'en')!.text).toBe('wx-1 has sent nothing for 3.3 hours (expected every 10 minutes)');
    expect(say(ONE_OF_EACH.device_back, 'ja')!.text).toBe('soil-1 から12分ぶりにデータが届きました');
    expect(say(ONE_OF_EACH.device_back, 'en')!.text).toBe(
      'soil-1 is sending again after 12 minutes of silence',
    );
    expect(say(alert('device_back', undefined, 'soil-1'), 'en')!.text).toBe('soil-1 is sending again');
    // The device id is a name: marked, never translated.
    expect(say(hours, 'ja')!.parts[0]).toEqual({ name: 'wx-1' });
    expect(fmtDuration(3 * 86_400_000, 'ja')).toBe('3日');
    expect(fmtDuration(3 * 86_400_000, 'en')).toBe('3 days');
    expect(fmtDuration(60_000, 'en')).toBe('60 seconds');
    expect(fmtDuration(-45_000, 'ja')).toBe('45秒');
  });

  it('says which way the clocks differ, without blaming either', () => {
    expect(say(ONE_OF_EACH.clock_skew, 'ja')!.text).toMatch(
      /^サーバーの時計がゲートウェイより2分進んでいます。.*両方の時計を確認してください$/,
    );
    expect(say(alert('clock_skew', { offsetMs: -45_000 }), 'en')!.text).toMatch(
      /^The server's clock is 45 seconds behind the gateway's;/,
    );
  });

  it('counts storage in MB as the gateway’s settings do, and says which limit was reached', () => {
    expect(fmtMegabytes(512 * MIB, 'ja')).toBe('512 MB');
    expect(fmtMegabytes(3.5 * MIB, 'en')).toBe('3.5 MB');
    expect(fmtMegabytes(20_480 * MIB, 'en')).toBe('20,480 MB');
    expect(say(ONE_OF_EACH.disk_full, 'ja')!.text).toBe(
      'ゲートウェイの保存領域がいっぱいです（ディスクの空き 3.5 MB、データベース 500 MB／上限 512 MB）。新しいデータを受け付けていません',
    );
    // A gateway that says which limit (fsLow) gets the sentence of that limit.
    const d = { fsFreeBytes: 3.5 * MIB, dbBytes: 100 * MIB, budgetBytes: 512 * MIB };
    expect(say(alert('disk_full', { ...d, fsLow: true, atRetentionFloor: false }), 'en')!.text).toBe(
      "Only 3.5 MB free on the gateway's disk; new readings are refused",
    );
    expect(say(alert('disk_full', { ...d, fsLow: false, atRetentionFloor: false }), 'ja')!.text).toBe(
      'データベースが容量の上限 512 MB に達しました。新しいデータを受け付けていません',
    );
    expect(say(alert('disk_full', { ...d, fsLow: false, atRetentionFloor: true }), 'ja')!.text).toMatch(
      /保存期間の下限より古い生データも残っていません/,
    );
    expect(say(ONE_OF_EACH.disk_ok, 'en')!.text).toBe(
      'Disk space is back (2,048 MB free); readings are accepted again',
    );
  });

  it('says how far raw retention was shortened, and when it reached the floor', () => {
    expect(say(ONE_OF_EACH.retention_shortened, 'ja')!.text).toBe(
      'データベースが容量の上限 512 MB に近づいたため、12.5日より古い生データを1時間ごとの集計にまとめました（設定は30日、下限は14日）',
    );
    const floor = alert('retention_shortened', {
      ...ONE_OF_EACH.retention_shortened.detail,
      rawRetentionDays: 14,
      atFloor: true,
    });
    expect(say(floor, 'en')!.text).toMatch(
      /older than 14 days .* \(configured: 30 days\); that is the floor: if the database still fills, new readings will be refused$/,
    );
    // Restored: with the period when the gateway sends it, without when it does not.
    expect(say(ONE_OF_EACH.retention_restored, 'ja')!.text).toBe(
      '生データを再び設定どおりの期間保存しています',
    );
    expect(say(alert('retention_restored', { rawRetentionDays: 30 }), 'ja')!.text).toBe(
      '生データを再び設定どおり30日保存しています',
    );
  });

  it('names the document sent down, and for a refusal says why by its code with the gateway’s words beside it', () => {
    const applied = say(ONE_OF_EACH.downlink_applied, 'ja')!;
    expect(applied.text).toBe('ゲートウェイの設定（gateway、版 v3）を適用しました');
    expect(applied.parts).toContainEqual({ name: 'gateway' });
    expect(applied.reason).toBeUndefined();
    expect(
      say(alert('downlink_applied', { kind: 'automation', id: 'a1', version: 9, deleted: true }), 'en')!.text,
    ).toBe('Removed automation (a1, version v9), which the server withdrew');
    // A recommendation comes down with each review decision: a rejected one is received, not applied.
    const rejected = alert('downlink_applied', {
      kind: 'recommendation',
      id: 'rec-1',
      version: 4,
      status: 'rejected',
    });
    expect(say(rejected, 'ja')!.text).toBe('施肥提案（rec-1、版 v4）の審査結果「差し戻し」を受け取りました');
    expect(say(rejected, 'en')!.text).toBe(
      'Received the review of recommendation (rec-1, version v4): Rejected',
    );
    const approved = alert('downlink_applied', {
      kind: 'recommendation',
      id: 'rec-2',
      version: 5,
      status: 'approved',
    });
    expect(say(approved, 'ja')!.text).toBe('施肥提案（rec-2、版 v5）の審査結果「承認済み」を受け取りました');
    // An older gateway's event without the status keeps the plain sentence.
    expect(
      say(alert('downlink_applied', { kind: 'recommendation', id: 'rec-3', version: 1 }), 'ja')!.text,
    ).toBe('施肥提案（rec-3、版 v1）を適用しました');
    const refused = say(ONE_OF_EACH.downlink_refused, 'ja')!;
    expect(refused.text).toBe(
      'ゲートウェイの設定（gateway、版 v4）を受け付けませんでした。前の版のまま動作しています',
    );
    expect(refused).toMatchObject({
      code: 'HATAKE_E_CONFIG',
      why: translate('ja', 'error_HATAKE_E_CONFIG'),
      reason: ONE_OF_EACH.downlink_refused.message,
    });
    // A scene that could not be processed (gateway/downlink-apply.ts sceneFailureEvent).
    const scene = alert('downlink_refused', {
      kind: 'scene',
      id: 'S2A_20250501',
      version: 12,
      code: 'HATAKE_E_IMAGERY_BANDS',
      reason: 'no red band',
    });
    expect(say(scene, 'en')!.text).toBe('Could not process satellite scene (S2A_20250501, version v12)');
    // A kind the page does not know keeps its name.
    expect(say(alert('downlink_applied', { kind: 'firmware', id: 'f', version: 1 }), 'ja')!.parts[0]).toEqual(
      {
        name: 'firmware',
      },
    );
  });

  it('keeps the gateway’s English for a type it has no sentence for, or a detail without what it needs', () => {
    expect(say(alert('backlog_report', { backlog: 3 }), 'ja')).toBeUndefined();
    expect(say(alert('firmware_updated', { version: '1.2' }), 'ja')).toBeUndefined();
    expect(say(alert('device_silent', undefined, 'soil-1'), 'ja')).toBeUndefined();
    expect(
      say(alert('device_silent', { lastSeen: 'yesterday', intervalS: 60 }, 'soil-1'), 'ja'),
    ).toBeUndefined();
    expect(say(alert('device_silent', { lastSeen: T - 60_000, intervalS: 60 }), 'ja')).toBeUndefined();
    expect(say(alert('battery_low'), 'en')).toBeUndefined();
    expect(say(alert('disk_ok', {}), 'en')).toBeUndefined();
    expect(say(alert('downlink_refused', { id: 'gateway', version: 4 }), 'en')).toBeUndefined();
  });
});

describe('filling a sentence', () => {
  it('keeps names as names and joins the text around them', () => {
    expect(fill('{a}: {b} and {c}', { a: [{ name: 'x' }], b: 'two', c: [{ name: 'y' }] })).toEqual([
      { name: 'x' },
      ': two and ',
      { name: 'y' },
    ]);
    expect(fill('no {missing} value', {})).toEqual(['no {missing} value']);
  });

  it('says why a device’s state is unknown: its gateways not syncing since a time, or never', () => {
    const t = (k: string) => translate('ja', k);
    const since = gatewayNotSyncingText(
      { gateways: ['gw-barn'], since: '2025-05-01T02:00:00.000Z' },
      () => '5月1日 11:00',
      t,
    );
    expect(partsText(since)).toBe('ゲートウェイ gw-barn から5月1日 11:00以降同期がありません');
    expect(since[1]).toEqual({ name: 'gw-barn' });
    expect(
      partsText(
        gatewayNotSyncingText({ gateways: ['gw-a', 'gw-b'], since: null }, String, (k) => translate('en', k)),
      ),
    ).toBe('No sync from gateway gw-a, gw-b yet');
  });
});
