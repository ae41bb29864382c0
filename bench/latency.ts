// bench/latency: end to end, from a device's publish to the reading's event arriving in a
// signed-in browser's SSE stream (device → gateway broker → SQLite → sync → server → SSE),
// p50 and p99, beside the transport floor: Mosquitto delivering the same publishes to an
// mqtt.js subscriber, measured in the same run.
//   node --import tsx bench/latency.ts [--messages 300] [--every 50]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { deviceTopic } from '../protocol/topics.ts';
import { freePort } from '../tests/helpers/ports.ts';
import { eventually, signIn, startStack } from '../tests/helpers/stack.ts';
import { report } from './lib/report.ts';

const { values: args } = parseArgs({
  options: { messages: { type: 'string', default: '300' }, every: { type: 'string', default: '50' } },
});
const N = Number(args.messages);
const EVERY = Number(args.every);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// hatake: the whole path.
const stack = await startStack({ mqtt: { rate: { perSecond: 1000, burst: 1000 } } });
const farmer = await signIn(stack.httpUrl, 'demo-farmer');
const res = await farmer('/api/v1/live');
const reader = res.body!.getReader();
const sent = new Map<number, number>();
const latencies: number[] = [];
let buf = '';
const reading = (async () => {
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = /^data: (.*)$/m.exec(ev)?.[1];
      if (!data || !ev.includes('event: reading')) continue;
      const r = JSON.parse(data) as { device: string; time: string };
      const t0 = sent.get(Date.parse(r.time));
      if (r.device === 'wx-1' && t0 !== undefined) latencies.push(performance.now() - t0);
    }
  }
})();
const device = await mqtt.connectAsync(stack.mqttUrl, {
  username: 'wx-1',
  password: stack.secrets['wx-1'],
  reconnectPeriod: 0,
});
const base = Date.now() - 10 * 60_000;
for (let i = 0; i < N; i++) {
  const time = base + i * 1000;
  sent.set(time, performance.now());
  await device.publishAsync(
    deviceTopic('demo-farm', 'wx-1', 'up'),
    JSON.stringify({ time, values: { air_temperature: 10 + (i % 10) } }),
    { qos: 1 },
  );
  await sleep(EVERY);
}
await eventually(() => latencies.length >= N, 30_000, 50);
await reader.cancel();
await reading.catch(() => {});
await device.endAsync();
await stack.close();

// Peer: Mosquitto → subscriber.
const dir = mkdtempSync(join(tmpdir(), 'hatake-bench-latency-'));
const port = await freePort();
writeFileSync(join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
const mosq = spawn('mosquitto', ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
await sleep(500);
const peerLat: number[] = [];
const peerSent = new Map<string, number>();
const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
await sub.subscribeAsync('hatake/v1/+/+/up', { qos: 1 });
sub.on('message', (_t, payload) => {
  const t0 = peerSent.get(payload.toString());
  if (t0 !== undefined) peerLat.push(performance.now() - t0);
});
const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
for (let i = 0; i < N; i++) {
  const payload = JSON.stringify({ time: base + i * 1000, values: { air_temperature: 10 + (i % 10) } });
  peerSent.set(payload, performance.now());
  await pub.publishAsync('hatake/v1/demo-farm/wx-1/up', payload, { qos: 1 });
  await sleep(EVERY);
}
await eventually(() => peerLat.length >= N, 10_000, 20);
await pub.endAsync();
await sub.endAsync();
mosq.kill();
rmSync(dir, { recursive: true, force: true });

report(`end-to-end latency (${N} readings, one every ${EVERY} ms)`, [
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
]);
process.exit(0);
