// Tips with no server: a gateway on its own receives a device's readings over MQTT, runs the
// rules itself and shows the tip on its status page (Japanese and English, HTML and JSON),
// queued for a server it has never reached — raises it once while the condition persists, and
// queues the tip's end when the condition clears.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { deviceTopic } from '../../protocol/topics.ts';
import type { GatewayStatus } from '../../gateway/http.ts';
import { demoManifest, eventually, startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
let base: string;

const status = async () => (await (await fetch(`${base}/api/status`)).json()) as GatewayStatus;
const batteryTips = (s: GatewayStatus) => s.tips.filter((t) => t.kind === 'battery_low');

/** soil-1 (a single Li-ion cell: low at 3.5 V, critical at 3.3 V) reports 3.40 V, three times. */
const sendLowBattery = (times: readonly number[]) => sendBattery(times, 3.4);

/** soil-1 reports its battery at `volts` at each of `times`. */
async function sendBattery(times: readonly number[], volts: number): Promise<void> {
  const c = await mqtt.connectAsync(stack.mqttUrl, {
    username: 'soil-1',
    password: stack.secrets['soil-1'],
    reconnectPeriod: 0,
  });
  try {
    for (const time of times)
      await c.publishAsync(
        deviceTopic('demo-farm', 'soil-1', 'up'),
        JSON.stringify({ time, values: { soil_vwc: 0.31, battery: volts } }),
        { qos: 1 },
      );
  } finally {
    await c.endAsync();
  }
}

beforeAll(async () => {
  stack = await startStack({ server: false });
  base = `http://127.0.0.1:${stack.gateway.httpPort}`;
  expect(batteryTips(await status())).toEqual([]);
  const now = Date.now();
  await sendLowBattery([now - 3 * 60_000, now - 2 * 60_000, now - 60_000]);
});
afterAll(async () => {
  await stack?.close();
});

describe('tips on a gateway with no server', () => {
  it('shows the tip the rules raised in the JSON status', async () => {
    // The first readings nudge the tip engine, which runs at once (later ones wait ≤ 1 min).
    const s = await eventually(async () => {
      const st = await status();
      return batteryTips(st).length > 0 ? st : undefined;
    }, 10_000);
    expect(s.sync.configured).toBe(false);
    const [tip, ...more] = batteryTips(s);
    expect(more).toEqual([]);
    expect(tip).toMatchObject({
      severity: 'warning',
      field: 'upland-1',
      title: {
        ja: '電池残量低下：土壌センサー 畑1号（3.40 V）',
        en: 'Battery low: 土壌センサー 畑1号 (3.40 V)',
      },
    });
    expect(tip!.text.ja).toContain('目安 3.50 V 以下です。電池を交換するか充電してください。');
    expect(tip!.text.en).toContain('at or below the low mark of 3.50 V. Replace or recharge the battery.');
  });

  it('shows it on the status page in Japanese by default and in English on request', async () => {
    const [tip] = batteryTips(await status());
    // The page names the field as the farm's manifest does, not by its id.
    const field = demoManifest().fields.find((f) => f.id === 'upland-1')!.name;
    expect(field).toBe('畑1号（小麦）');
    const ja = await (await fetch(`${base}/`)).text();
    expect(ja).toContain('<html lang="ja">');
    expect(ja).toContain(
      `<h2>アドバイス</h2><ul><li class="warning"><b>${tip!.title.ja}</b> (${field})<br>${tip!.text.ja}</li></ul>`,
    );
    const en = await (await fetch(`${base}/?lang=en`)).text();
    expect(en).toContain('<html lang="en">');
    expect(en).toContain(
      `<h2>Tips</h2><ul><li class="warning"><b>${tip!.title.en}</b> (${field})<br>${tip!.text.en}</li></ul>`,
    );
    expect(en).not.toContain(tip!.title.ja);
  });

  it('queues the tip for the server once, and raises no second tip while the battery stays low', async () => {
    const queued = () =>
      stack.gateway.store
        .peekOutbox(10_000)
        .filter((r) => r.kind === 'tip' && r.body.includes('"battery_low"'))
        .map((r) => (JSON.parse(r.body) as { id: string }).id);
    const [tip] = batteryTips(await status());
    expect(queued()).toEqual([tip!.id]);
    // More low readings, and the engine's next evaluations (its timer would run them within
    // minutes; run them now): the condition persists, so nothing new is raised.
    const now = Date.now();
    await sendLowBattery([now - 30_000, now - 20_000]);
    await eventually(() => stack.gateway.store.readingCount() >= 10, 5_000);
    const raisedNow = async (at: number) =>
      (await stack.gateway.tips.run(at)).filter((t) => t.kind === 'battery_low');
    expect(await raisedNow(Date.now())).toEqual([]);
    expect(await raisedNow(Date.now() + 5 * 60_000)).toEqual([]);
    expect(batteryTips(await status()).map((t) => t.id)).toEqual([tip!.id]);
    expect(queued()).toEqual([tip!.id]);
  });

  it('takes the tip off its page and queues its end for the server once the battery recovers', async () => {
    const [tip] = batteryTips(await status());
    const ends = () =>
      stack.gateway.store
        .peekOutbox(10_000)
        .filter((r) => r.kind === 'tip_cleared')
        .map((r) => JSON.parse(r.body) as { id: string; dedupKey: string; at: number });
    expect(ends()).toEqual([]);
    // Charged: 3.65 V is past the 3.5 V mark by more than the 0.1 V hysteresis (the rule takes
    // the median of the last three readings).
    const now = Date.now();
    await sendBattery([now - 3_000, now - 2_000, now - 1_000], 3.65);
    const at = Date.now() + 1_000;
    await stack.gateway.tips.run(at);
    expect(batteryTips(await status())).toEqual([]);
    const raised = stack.gateway.store
      .peekOutbox(10_000)
      .filter((r) => r.kind === 'tip')
      .map((r) => JSON.parse(r.body) as { id: string; dedupKey: string })
      .find((t) => t.id === tip!.id)!;
    expect(ends()).toEqual([{ id: tip!.id, dedupKey: raised.dedupKey, at }]);
    await stack.gateway.tips.run(at + 60_000); // nothing more to say
    expect(ends()).toHaveLength(1);
  });
});

describe("the rules' settings from the gateway file", () => {
  let own: Stack;
  afterAll(async () => {
    await own?.close();
  });

  it('judges by the marks the file gives (3.40 V is critical under a 3.45 V mark), and not at all when switched off', async () => {
    // The helpers above talk to `stack`; point them at this test's gateways meanwhile.
    const [main, mainBase] = [stack, base];
    own = await startStack({
      server: false,
      gateway: {
        rules: {
          params: { 'battery-low': { kits: { 'hatake-soil-probe': { lowV: 3.6, criticalV: 3.45 } } } },
        },
      },
    });
    stack = own;
    base = `http://127.0.0.1:${own.gateway.httpPort}`;
    try {
      const now = Date.now();
      await sendLowBattery([now - 3 * 60_000, now - 2 * 60_000, now - 60_000]);
      const s = await eventually(async () => {
        const st = await status();
        return batteryTips(st).length > 0 ? st : undefined;
      }, 10_000);
      const [tip] = batteryTips(s);
      expect(tip!.severity).toBe('severe');
      expect(tip!.text.en).toContain('3.45 V');
    } finally {
      [stack, base] = [main, mainBase];
    }
    await own.close();

    own = await startStack({ server: false, gateway: { rules: { disabled: ['battery-low'] } } });
    [stack, base] = [own, `http://127.0.0.1:${own.gateway.httpPort}`];
    try {
      const now = Date.now();
      await sendLowBattery([now - 3 * 60_000, now - 2 * 60_000, now - 60_000]);
      await own.gateway.tips.run(Date.now());
      expect(batteryTips(await status())).toEqual([]);
      // The engine did run: the readings are there, only the switched-off rule said nothing.
      expect(
        (
          own.gateway.store.db
            .prepare("SELECT COUNT(*) AS n FROM readings WHERE metric = 'battery'")
            .get() as {
            n: number;
          }
        ).n,
      ).toBe(3);
    } finally {
      [stack, base] = [main, mainBase];
    }
  });
});
