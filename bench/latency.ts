// bench/latency: end to end, from a device's publish to the reading's event arriving in a
// signed-in browser's SSE stream (device → gateway broker → SQLite → sync → server → SSE), p50
// and p99, measured in a real browser: Debian's headless Chromium driven by playwright-core and
// launched as the e2e journeys launch it (tests/e2e/browser.ts: no network but the server under
// test), signed in as demo-farmer through the login form, with an EventSource('/api/v1/live')
// opened in the dashboard page. The page stamps each `reading` event with Date.now() as it is
// dispatched; the script stamps each publish with Date.now() just before it (one machine, one
// clock). Beside it, the transport floor: Mosquitto delivering the same publishes to an mqtt.js
// subscriber, measured in the same run. Then the p50 of a device reporting rarely, whose
// messages may wait out the gateway's commit window (storage.commitWindowMs) for company.
//   node --import tsx bench/latency.ts [--messages 300] [--every 50]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser } from 'playwright-core';
import type { LiveReadingEvent } from '../protocol/api.ts';
import { deviceTopic } from '../protocol/topics.ts';
import { launch, phonePage, signInAs } from '../tests/e2e/browser.ts';
import { freePort } from '../tests/helpers/ports.ts';
import { eventually, startStack } from '../tests/helpers/stack.ts';
import { report } from './lib/report.ts';

const { values: args } = parseArgs({
  options: { messages: { type: 'string', default: '300' }, every: { type: 'string', default: '50' } },
});
const N = Number(args.messages);
const EVERY = Number(args.every);
/** Readings sent as a rarely reporting device sends them, this far apart (over two commit windows). */
const SLOW = 10;
const SLOW_GAP = 1_100;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const base = Date.now() - 10 * 60_000;

/** What the page keeps of the stream: each wx-1 reading's time and when the page got it. */
interface PageLive {
  got: { time: string; at: number }[];
  errors: number;
}

// hatake: the whole path, read by Chromium.
async function hatake(): Promise<{ busy: number[]; slow: number[] }> {
  const stack = await startStack({ mqtt: { rate: { perSecond: 1000, burst: 1000 } } });
  let browser: Browser | undefined;
  let device: MqttClient | undefined;
  try {
    browser = await launch();
    const page = await phonePage(browser, stack.httpUrl);
    await signInAs(page, 'demo-farmer');
    // Resolves once the stream is open, so no publish goes before the page listens.
    await page.evaluate(
      () =>
        new Promise<void>((resolve, reject) => {
          const live: PageLive = { got: [], errors: 0 };
          (window as unknown as { benchLive: PageLive }).benchLive = live;
          const es = new EventSource('/api/v1/live');
          es.addEventListener('reading', (e) => {
            const at = Date.now(); // first, before parsing
            const r = JSON.parse((e as MessageEvent<string>).data) as LiveReadingEvent;
            if (r.device === 'wx-1') live.got.push({ time: r.time, at });
          });
          es.onopen = () => resolve();
          es.onerror = () => {
            live.errors++;
            reject(new Error('the EventSource failed to open'));
          };
        }),
    );
    device = await mqtt.connectAsync(stack.mqttUrl, {
      username: 'wx-1',
      password: stack.secrets['wx-1'],
      reconnectPeriod: 0,
    });
    const sent = new Map<number, number>();
    const send = async (i: number, gap: number) => {
      const time = base + i * 1000;
      sent.set(time, Date.now());
      await device!.publishAsync(
        deviceTopic('demo-farm', 'wx-1', 'up'),
        JSON.stringify({ time, values: { air_temperature: 10 + (i % 10) } }),
        { qos: 1 },
      );
      await sleep(gap);
    };
    for (let i = 0; i < N; i++) await send(i, EVERY);
    // Then as a farm's devices report — rarely: each message may wait out the gateway's commit
    // window (storage.commitWindowMs, 500 ms) for others to share its commit.
    await sleep(SLOW_GAP);
    for (let i = N; i < N + SLOW; i++) await send(i, SLOW_GAP);
    const live = () => page.evaluate(() => (window as unknown as { benchLive: PageLive }).benchLive);
    await eventually(
      async () => new Set((await live()).got.map((g) => g.time)).size >= N + SLOW,
      30_000,
      100,
    );
    const { got, errors } = await live();
    // A stream that dropped and reconnected would have lost events: the figures would not hold.
    if (errors) throw new Error(`the page's EventSource reported ${errors} error(s)`);
    const latencies = new Map<number, number>(); // by reading time: the first event of each
    for (const g of got) {
      const time = Date.parse(g.time);
      const t0 = sent.get(time);
      if (t0 !== undefined && !latencies.has(time)) latencies.set(time, g.at - t0);
    }
    if (latencies.size < N + SLOW) throw new Error(`the page got ${latencies.size} of ${N + SLOW} readings`);
    const all = [...latencies.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l);
    return { busy: all.slice(0, N), slow: all.slice(N) };
  } finally {
    await device?.endAsync().catch(() => {});
    await browser?.close().catch(() => {});
    await stack.close();
  }
}

// Peer: Mosquitto → subscriber.
async function peer(): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-bench-latency-'));
  let mosq: ChildProcess | undefined;
  let sub: MqttClient | undefined;
  let pub: MqttClient | undefined;
  try {
    const port = await freePort();
    writeFileSync(
      join(dir, 'm.conf'),
      `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`,
    );
    mosq = spawn('mosquitto', ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
    await sleep(500);
    const peerLat: number[] = [];
    const peerSent = new Map<string, number>();
    sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
    await sub.subscribeAsync('hatake/v1/+/+/up', { qos: 1 });
    sub.on('message', (_t, payload) => {
      const t0 = peerSent.get(payload.toString());
      if (t0 !== undefined) peerLat.push(performance.now() - t0);
    });
    pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
    for (let i = 0; i < N; i++) {
      const payload = JSON.stringify({ time: base + i * 1000, values: { air_temperature: 10 + (i % 10) } });
      peerSent.set(payload, performance.now());
      await pub.publishAsync('hatake/v1/demo-farm/wx-1/up', payload, { qos: 1 });
      await sleep(EVERY);
    }
    await eventually(() => peerLat.length >= N, 10_000, 20);
    return peerLat;
  } finally {
    await pub?.endAsync().catch(() => {});
    await sub?.endAsync().catch(() => {});
    mosq?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const { busy: latencies, slow } = await hatake();
const peerLat = await peer();

report(
  `end-to-end latency (${N} readings, one every ${EVERY} ms, read by EventSource in headless Chromium)`,
  [
    {
      figure: 'publish → browser SSE event, p50',
      unit: 'ms',
      hatake: pct(latencies, 50),
      peer: pct(peerLat, 50),
      peerName: 'Mosquitto publish → subscriber',
      better: 'lower',
      target: '< 1000 ms',
      met: pct(latencies, 50) < 1000,
    },
    {
      figure: 'publish → browser SSE event, p99',
      unit: 'ms',
      hatake: pct(latencies, 99),
      peer: pct(peerLat, 99),
      peerName: 'Mosquitto publish → subscriber',
      better: 'lower',
      target: '< 2000 ms',
      met: pct(latencies, 99) < 2000,
    },
    {
      figure: `publish → browser SSE event, a device reporting rarely (${SLOW} readings ${SLOW_GAP} ms apart), p50`,
      unit: 'ms',
      hatake: pct(slow, 50),
      peer: pct(peerLat, 50),
      peerName: 'Mosquitto publish → subscriber',
      better: 'lower',
      target: '< 1000 ms',
      met: pct(slow, 50) < 1000,
    },
  ],
);
process.exit(0);
