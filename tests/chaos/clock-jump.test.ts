// The gateway's clock jumps forward a month and back two days while devices keep publishing (a Pi
// without a battery-backed clock does exactly this when NTP comes and goes). Every acknowledged
// reading still reaches the server exactly once, the gateway notices the offset and says so, and
// it keeps serving. Once it has measured the offset it judges readings by the corrected clock: a
// device with the right time is not flagged clock_skew, a device a month off is. The jump is real:
// the gateway process runs under libfaketime (the test fails, rather than skips, without it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../protocol/topics.ts';
import { provisionRegistry } from '../../firmware-config/provision.ts';
import { DEMO_MANIFEST_FILE, demoManifest, eventually, startServer } from '../helpers/stack.ts';
import { freePort } from '../helpers/ports.ts';

const ROOT = join(import.meta.dirname, '../..');
const FAKETIME = findLibfaketime();
const dir = mkdtempSync(join(tmpdir(), 'hatake-clock-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** libfaketime.so.1 wherever the faketime package put it (any multiarch directory), or undefined. */
function findLibfaketime(): string | undefined {
  const candidates = ['/usr/lib/faketime/libfaketime.so.1', '/usr/local/lib/faketime/libfaketime.so.1'];
  try {
    for (const d of readdirSync('/usr/lib')) candidates.unshift(`/usr/lib/${d}/faketime/libfaketime.so.1`);
  } catch {
    // no /usr/lib: dpkg below, or nothing
  }
  const found = candidates.find((f) => existsSync(f));
  if (found) return found;
  const dpkg = spawnSync('dpkg', ['-L', 'faketime'], { encoding: 'utf8' });
  return (dpkg.stdout ?? '').split('\n').find((f) => f.endsWith('/libfaketime.so.1') && existsSync(f));
}

describe('the gateway clock jumps', () => {
  it('keeps every acknowledged reading exactly once, notices the offset and flags by the corrected clock', async () => {
    if (!FAKETIME)
      throw new Error(
        'libfaketime.so.1 not found (looked in /usr/lib/*/faketime/ and `dpkg -L faketime`): install faketime (apt-get install faketime) to run this test',
      );
    const { server, url } = await startServer(dir);
    try {
      const token = server.ctx.auth.issueGatewayToken('gw-clock', 'demo-farm');
      const { registry, secrets } = provisionRegistry(demoManifest());
      writeFileSync(join(dir, 'registry.json'), JSON.stringify(registry));
      const mqttPort = await freePort();
      const config = join(dir, 'gateway.yaml');
      writeFileSync(
        config,
        [
          'id: gw-clock',
          `dataDir: ${join(dir, 'gw')}`,
          `manifest: ${DEMO_MANIFEST_FILE}`,
          `registry: ${join(dir, 'registry.json')}`,
          `mqtt: { host: 127.0.0.1, port: ${mqttPort}, rate: { perSecond: 1000, burst: 1000 } }`,
          `http: { host: 127.0.0.1, port: 0 }`,
          `server: { url: ${url}, token: ${token} }`,
          `sync: { intervalMs: 200, batchDelayMs: 20, backoffCapMs: 500 }`,
        ].join('\n'),
      );
      const offsetFile = join(dir, 'faketime');
      writeFileSync(offsetFile, '+0');
      const gw = spawn(process.execPath, ['bin/hatake.js', 'gateway', '--config', config], {
        cwd: ROOT,
        env: {
          ...process.env,
          HATAKE_LOG_LEVEL: 'info',
          LD_PRELOAD: FAKETIME,
          FAKETIME_TIMESTAMP_FILE: offsetFile,
          FAKETIME_NO_CACHE: '1',
          // Node's timers need a monotonic clock that never goes back: only the wall clock jumps.
          FAKETIME_DONT_FAKE_MONOTONIC: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(gw);
      let out = '';
      gw.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      gw.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      await eventually(() => out.includes('gateway started'), 30_000);
      const httpPort = Number(/"http":(\d+)/.exec(out)?.[1]);
      // Each wrong clock lasts until the gateway has synced under it and measured the offset, as
      // a wrong clock on a real Pi lasts until NTP comes back; a jump shorter than one sync round
      // would be invisible to any gateway.
      const offsetMeasured = (expectedMs: number) =>
        eventually(
          async () => {
            const s = (await (await fetch(`http://127.0.0.1:${httpPort}/api/status`)).json()) as {
              sync: { clockOffsetMs: number | null };
            };
            const o = s.sync.clockOffsetMs;
            return o !== null && Math.abs(o - expectedMs) < 60_000;
          },
          30_000,
          100,
        );
      const DAY = 86_400_000;

      const devices = ['soil-1', 'wx-1', 'water-1'] as const;
      const metric = {
        'soil-1': 'soil_ec',
        'wx-1': 'air_humidity',
        'water-1': 'water_temperature',
      } as const;
      const clients: MqttClient[] = await Promise.all(
        devices.map((d) =>
          mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
            username: d,
            password: secrets[d],
            clientId: `clock-${d}`,
            clean: false,
            reconnectPeriod: 200,
          }),
        ),
      );
      const acked = new Map<string, number[]>(devices.map((d) => [d, []]));
      let t = Date.now() - 60_000;
      /** Publishes n readings from each device, a device time 100 ms apart; returns those times. */
      const publishSome = async (n: number) => {
        const times: number[] = [];
        for (let i = 0; i < n; i++) {
          t += 100;
          await Promise.all(
            clients.map((c, k) => {
              const d = devices[k]!;
              return c
                .publishAsync(
                  deviceTopic('demo-farm', d, 'up'),
                  JSON.stringify({ time: t, values: { [metric[d]]: 10 + (i % 5) } }),
                  { qos: 1 },
                )
                .then(() => acked.get(d)!.push(t));
            }),
          );
          times.push(t);
        }
        return times;
      };
      /** A reading from soil-1 whose device clock is a month ahead of the real time. */
      const publishMonthAhead = async () => {
        const time = Date.now() + 30 * DAY;
        await clients[0]!.publishAsync(
          deviceTopic('demo-farm', 'soil-1', 'up'),
          JSON.stringify({ time, values: { soil_ec: 12 } }),
          { qos: 1 },
        );
        acked.get('soil-1')!.push(time);
        return time;
      };
      // Readings sent while the gateway's clock was wrong but already measured against the
      // server's: the devices' clocks are right (but for one a month ahead).
      const judged: { gatewayClock: string; rightTimes: number[]; monthAhead: number }[] = [];
      await publishSome(30);
      await offsetMeasured(0);
      writeFileSync(offsetFile, '+30d'); // NTP "corrects" a clock that was a month behind…
      await publishSome(30);
      await offsetMeasured(-30 * DAY);
      judged.push({
        gatewayClock: '+30d',
        rightTimes: await publishSome(10),
        monthAhead: await publishMonthAhead(),
      });
      writeFileSync(offsetFile, '-2d'); // …then the RTC-less Pi reboots two days in the past
      await publishSome(30);
      await offsetMeasured(2 * DAY);
      judged.push({
        gatewayClock: '-2d',
        rightTimes: await publishSome(10),
        monthAhead: await publishMonthAhead(),
      });
      writeFileSync(offsetFile, '+0');
      await publishSome(30);
      await offsetMeasured(0);
      for (const c of clients) await c.endAsync();

      for (const d of devices) {
        await eventually(
          async () => (await server.ctx.readings.count('demo-farm', d)) >= acked.get(d)!.length,
          60_000,
          100,
        );
        expect(await server.ctx.readings.count('demo-farm', d)).toBe(acked.get(d)!.length);
        const times = (
          server.ctx.db
            .prepare('SELECT time FROM readings WHERE farm = ? AND device = ? ORDER BY time')
            .all('demo-farm', d) as { time: number }[]
        ).map((r) => r.time);
        expect(times).toEqual([...acked.get(d)!].sort((a, b) => a - b));
      }
      // Judged by the corrected clock. Uncorrected, a gateway 30 days ahead would flag every
      // right reading (more than 7 days in its past) and pass the month-ahead one; 2 days behind,
      // it would flag every right reading (more than 5 minutes in its future).
      const flagsAt = (device: string, time: number) => {
        const row = server.ctx.db
          .prepare('SELECT flags FROM readings WHERE farm = ? AND device = ? AND time = ?')
          .get('demo-farm', device, time) as { flags: string } | undefined;
        expect(row, `${device} reading at ${time}`).toBeDefined();
        return JSON.parse(row!.flags) as string[];
      };
      for (const j of judged) {
        for (const d of devices)
          for (const time of j.rightTimes)
            expect(flagsAt(d, time), `${d} at ${time}, gateway clock ${j.gatewayClock}`).not.toContain(
              'clock_skew',
            );
        expect(
          flagsAt('soil-1', j.monthAhead),
          `month-ahead reading, gateway clock ${j.gatewayClock}`,
        ).toContain('clock_skew');
      }
      // The gateway measured its clock against the server's and told the server.
      await eventually(
        () => server.ctx.db.prepare("SELECT 1 FROM events WHERE type = 'clock_skew'").get(),
        30_000,
        100,
      );
      // And it is still serving: a new device connection gets its reading stored.
      const late = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
        username: 'soil-1',
        password: secrets['soil-1'],
        reconnectPeriod: 0,
      });
      await late.publishAsync(
        deviceTopic('demo-farm', 'soil-1', 'up'),
        JSON.stringify({ time: Date.now(), values: { soil_vwc: 0.3 } }),
        { qos: 1 },
      );
      await late.endAsync();
      await eventually(
        async () =>
          (await server.ctx.readings.count('demo-farm', 'soil-1')) === acked.get('soil-1')!.length + 1,
        30_000,
        100,
      );
    } finally {
      await server.close();
    }
  }, 120_000);
});
