// What the farmer reads on the gateway's status page, checked value by value: each value's own
// freshness (one the device dated ahead of the gateway's clock, one older than the device's last
// message), quality flags and units in the page's language, and the sync section while the uplink
// has never worked.
import { describe, expect, it } from 'vitest';
import { fmtValue, renderStatusPage, type GatewayStatus } from '../../gateway/http.ts';
import { englishOutsideLangEn } from '../helpers/page-language.ts';
import { gatewayStatus, STATUS_NOW } from '../helpers/gateway-status.ts';

const NOW = STATUS_NOW;
const MIN = 60_000;
const DAY = 86_400_000;

const status = gatewayStatus;

type Latest = GatewayStatus['devices'][number]['latest'][number];
const soil = (latest: Latest[]): GatewayStatus['devices'][number] => ({
  id: 'soil-1',
  kit: 'hatake-soil-probe',
  lastSeen: NOW - 10_000,
  online: true,
  silent: false,
  battery: 3.7,
  rssi: null,
  snr: null,
  latest,
});
/** The sensor table's row of soil-1, as text. */
const row = (html: string) =>
  (/<tr[^>]*><th scope="row" class="dev">soil-1[\s\S]*?<\/tr>/.exec(html)?.[0] ?? '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ');

describe("each value's own freshness", () => {
  const page = (lang: 'ja' | 'en') =>
    renderStatusPage(
      status({
        devices: [
          soil([
            { metric: 'battery', value: 3.7, unit: 'V', time: NOW - 10_000, flags: [] },
            // The probe stopped measuring moisture three days ago; the battery still reports.
            { metric: 'soil_ec', value: 0.4, unit: 'dS/m', time: NOW - 3 * DAY, flags: [] },
            // Sent once with the device's clock a year ahead: the newest by its time, for ever.
            { metric: 'soil_vwc', value: 0.41, unit: 'm3/m3', time: NOW + 365 * DAY, flags: ['clock_skew'] },
          ]),
        ],
      }),
      lang,
    );

  it('says a value is dated in the future, in words, rather than pass it as current', () => {
    expect(row(page('ja'))).toMatch(/土壌水分: 41\.0 % \(機器の時計が進んでいます[^)]*\)/);
    expect(row(page('en'))).toMatch(/Soil moisture: 41\.0 % \(dated in the future[^)]*\)/);
  });

  it("gives a value older than the device's last message its own age", () => {
    expect(row(page('ja'))).toContain('土壌EC: 0.40 dS/m (3日前)');
    expect(row(page('en'))).toContain('Soil EC: 0.40 dS/m (3 d ago)');
    // The battery, as fresh as the device's last message, needs no age of its own.
    expect(row(page('ja'))).toContain('電池電圧: 3.70 V 土壌EC');
  });

  it('blames no device when the gateway’s own clock is off (a Pi booted without internet)', () => {
    // The gateway's clock two days behind: the device's right times look ahead of it, unflagged.
    const html = renderStatusPage(
      status({
        devices: [
          soil([
            { metric: 'battery', value: 3.7, unit: 'V', time: NOW + 2 * DAY, flags: [] },
            { metric: 'soil_vwc', value: 0.25, unit: 'm3/m3', time: NOW + 2 * DAY - MIN, flags: [] },
          ]),
        ],
      }),
      'ja',
    );
    expect(row(html)).toContain('電池電圧: 3.70 V 土壌水分: 25.0 % 10秒前');
  });

  it('words the quality flags in the page’s language', () => {
    const html = renderStatusPage(
      status({
        devices: [
          soil([
            { metric: 'soil_vwc', value: 0.3, unit: 'm3/m3', time: NOW - 10_000, flags: ['spike', 'stuck'] },
          ]),
        ],
      }),
      'ja',
    );
    expect(row(html)).toContain('土壌水分: 30.0 % (急な変化、値が変わらない)');
    expect(html).not.toMatch(/spike|stuck/);
  });
});

describe('units as the farmer reads them', () => {
  it('writes degrees, squares and cubes as symbols, and minutes in Japanese', () => {
    expect(fmtValue('wind_direction', 270, 'deg', 'ja')).toBe('270°');
    expect(fmtValue('solar_radiation', 512, 'W/m2', 'en')).toBe('512 W/m²');
    expect(fmtValue('vwc_custom', 0.25, 'm3/m3', 'en')).toBe('0.25 m³/m³');
    expect(fmtValue('open_minutes_left', 12, 'min', 'ja')).toBe('12 分');
    expect(fmtValue('open_minutes_left', 12, 'min', 'en')).toBe('12 min');
    expect(fmtValue('ec_custom', 350, 'uS/cm', 'en')).toBe('350 µS/cm');
  });
});

describe('the sync section while the uplink has never worked', () => {
  const html = (lang: 'ja' | 'en') =>
    renderStatusPage(
      status({
        health: {
          ok: false,
          problems: ['server unreachable'],
          issues: [{ code: 'server_unreachable' }],
        },
        sync: {
          ...status().sync,
          backlog: 1234,
          backlogBytes: 300_000,
          oldestAgeMs: 2 * 3600_000,
          lastError: 'network: fetch failed: connect ECONNREFUSED 127.0.0.1:8443',
          throughput: 12.4,
        },
      }),
      lang,
    );
  const text = (h: string) => h.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ');

  it('says no batch was ever sent, not that nothing was received', () => {
    expect(text(html('ja'))).toContain('最後に送信できた時刻 まだ一度も送信できていません');
    expect(text(html('ja'))).not.toContain('受信なし');
    expect(text(html('en'))).toContain('Last successful sync not yet');
  });

  it('counts what waits and the throughput with their units', () => {
    expect(text(html('ja'))).toContain('未送信 1234件 (0.3 MB)');
    expect(text(html('en'))).toContain('Waiting to send 1234 items (0.3 MB)');
    expect(text(html('ja'))).toContain('送信速度 12件/秒');
    expect(text(html('en'))).toContain('Throughput 12 items/s');
    expect(englishOutsideLangEn(html('ja'))).toEqual([]);
  });
});

describe('the refused data on the page', () => {
  const letter = (i: number) => ({
    time: NOW - i * MIN,
    device: 'soil-1',
    topic: 'hatake/v1/demo-farm/soil-1/up',
    code: 'HATAKE_E_PAYLOAD_JSON',
    reason: 'not JSON',
  });
  it('says how many are kept when it lists only the newest', () => {
    const listed = [letter(1), letter(2)];
    expect(renderStatusPage(status({ deadLetters: listed, deadLetterTotal: 250 }), 'ja')).toContain(
      '新しい 2 件を表示（保存は全 250 件）',
    );
    expect(renderStatusPage(status({ deadLetters: listed, deadLetterTotal: 250 }), 'en')).toContain(
      'The newest 2 of 250 kept',
    );
    // All of them listed: nothing to add.
    expect(renderStatusPage(status({ deadLetters: listed, deadLetterTotal: 2 }), 'ja')).not.toContain(
      '保存は全',
    );
  });
});
