// `hatake start` as `npm start` runs it — from the compiled tree, with TypeScript refused — and
// with default options (the kits report every 5 s): a child process that brings up server, gateway
// and simulated kits; the devices appear with fresh
// readings; within two minutes of the start the officer has pending reviews, an approval gives the
// farmer a prescription, and the farmer has tips; Ctrl-C stops it cleanly; a second start keeps
// the data (a reading of the first run is still served).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../protocol/api.ts';
import type { Series } from '../../protocol/views.ts';
import { NO_TS_ARGS, buildDist } from '../helpers/dist.ts';
import { eventually, signIn } from '../helpers/stack.ts';

const ROOT = join(import.meta.dirname, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'hatake-start-'));
const children: ChildProcess[] = [];
const dist = buildDist();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
  dist.remove();
});

/** Issue 8: tips, a pending review and approval → prescription within this long of `npm start`. */
const STORY_MS = 120_000;

async function startDemo(): Promise<{ child: ChildProcess; url: string; output: () => string; t0: number }> {
  const t0 = Date.now();
  const child = spawn(
    process.execPath,
    // The default report interval (5 s), as `npm start` runs it.
    [...NO_TS_ARGS, dist.entry, 'start', '--data', dataDir, '--http-port', '0', '--mqtt-port', '0'],
    {
      cwd: ROOT,
      env: { ...process.env, HATAKE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await eventually(() => /dashboard: (http:\/\/localhost:\d+)\//.exec(out)?.[1], 60_000);
  return { child, url, output: () => out, t0 };
}

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGINT');
  });

/** One stored reading, as the API gives it. */
interface Kept {
  farm: string;
  device: string;
  metric: string;
  time: string;
  value: number;
}

describe('hatake start', () => {
  let devicesAfterFirstRun = 0;
  let kept: Kept | undefined;

  it('brings up the pipeline: the simulated devices appear with readings less than a minute old', async () => {
    const { child, url, output, t0 } = await startDemo();
    // Waits for a step of the story, no later than STORY_MS after the process was spawned.
    const byStoryDeadline = <T>(fn: () => T | Promise<T>, what: string) =>
      eventually(fn, Math.max(0, t0 + STORY_MS - Date.now())).catch((e: Error) => {
        throw new Error(`${what} not reached within ${STORY_MS / 1000} s of the start: ${e.message}`);
      });
    expect(output()).toMatch(/demo-farmer, demo-officer, demo-partner, admin/);
    expect(output()).toMatch(/hatake-demo/);
    const farmer = await signIn(url, 'demo-farmer');
    const devices = await eventually(async () => {
      const list = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
      const fresh = list.filter((d) => d.latest.length > 0 && Date.now() - Date.parse(d.lastSeen!) < 60_000);
      return fresh.length === 4 ? list : undefined;
    }, 30_000);
    expect(devices.map((d) => d.kit).sort()).toEqual([
      'hatake-paddy-water',
      'hatake-soil-probe',
      'hatake-water-gate',
      'hatake-weather-station',
    ]);
    // Values change over time (the page updates them live).
    const first = devices
      .find((d) => d.id === 'wx-1')!
      .latest.find((l) => l.metric === 'air_temperature')!.time;
    await eventually(async () => {
      const list = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
      return (
        list.find((d) => d.id === 'wx-1')!.latest.find((l) => l.metric === 'air_temperature')!.time !== first
      );
    }, 15_000);
    // The paddy's water gate obeys the farmer: held open from the dashboard, the gateway opens
    // it, and the paddy's level sensor sees the water come in (checked at the end of the story).
    const level = (list: DeviceView[], id: string, metric = 'water_level') =>
      list.find((d) => d.id === id)?.latest.find((l) => l.metric === metric);
    const closed = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
    expect(level(closed, 'gate-1', 'valve_state')?.value).toBe(0);
    const hold = await farmer('/api/v1/farms/demo-farm/devices/gate-1/override', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'hold_open', minutes: 10 }),
    });
    expect(hold.status).toBe(200);
    const opened = await eventually(async () => {
      const list = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
      return level(list, 'gate-1', 'valve_state')?.value === 1 ? list : undefined;
    }, 30_000);
    const before = level(opened, 'water-1')!;
    const now = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
    devicesAfterFirstRun = now.length;
    const wx = now.find((d) => d.id === 'wx-1')!;
    const reading = wx.latest.find((l) => l.metric === 'air_temperature')!;
    kept = { farm: wx.farm, device: wx.id, metric: reading.metric, time: reading.time, value: reading.value };
    // The story goes on by itself: the demo scene is processed on the gateway, and each field's
    // model (wheat: OSU SBNRC; paddy: rice top-dressing, from the scouted observations) queues a
    // recommendation for the extension officer.
    const officer = await signIn(url, 'demo-officer');
    const queue = await byStoryDeadline(async () => {
      const res = await officer('/api/v1/reviews');
      const items = (await res.json()) as { field: string; status: string }[];
      return new Set(items.map((i) => i.field)).size >= 2 ? items : undefined;
    }, 'two pending reviews');
    expect(queue.map((i) => [i.field, i.status]).sort()).toEqual([
      ['paddy-1', 'pending_review'],
      ['upland-1', 'pending_review'],
    ]);
    // The farmer sees neither until the officer approves; then the approved one, with its
    // prescription for the spreader.
    expect(await (await farmer('/api/v1/recommendations')).json()).toEqual([]);
    const wheat = (queue as unknown as { id: string; field: string }[]).find((i) => i.field === 'upland-1')!;
    const detail = (await (await officer(`/api/v1/reviews/${wheat.id}`)).json()) as { revision: number };
    const approve = await officer(`/api/v1/reviews/${wheat.id}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ note: 'demo', revision: detail.revision }),
    });
    expect(approve.status).toBe(200);
    const seen = (await (await farmer('/api/v1/recommendations')).json()) as { id: string }[];
    expect(seen.map((r) => r.id)).toEqual([wheat.id]);
    const csv = await farmer(`/api/v1/recommendations/${wheat.id}/prescription/csv`);
    expect(csv.status).toBe(200);
    expect((await csv.text()).split('\n').length).toBeGreaterThan(2);
    // The approval reached the farmer as a tip too, and the sensors have raised theirs by now
    // (the weak battery of the demo).
    const tips = await byStoryDeadline(async () => {
      const list = (await (await farmer('/api/v1/tips')).json()) as { tip: { kind: string } }[];
      const kinds = list.map((t) => t.tip.kind);
      return kinds.includes('battery_low') && kinds.includes('prescription') ? kinds : undefined;
    }, "the farmer's battery and prescription tips");
    expect(tips).toEqual(expect.arrayContaining(['battery_low', 'prescription']));
    // Everything above happened within two minutes of `npm start`.
    expect(Date.now() - t0).toBeLessThanOrEqual(STORY_MS);

    // …and the water came in while the story went on.
    await eventually(async () => {
      const list = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
      const now = level(list, 'water-1')!;
      return now.time !== before.time && now.value > before.value + 0.05;
    }, 60_000);
    expect(await stop(child)).toBe(0);
  }, 240_000);

  it('keeps the data when started again', async () => {
    // (a first run that failed half-way is still up: stop it, so this one fails for its own reasons)
    for (const c of children) if (c.exitCode === null && c.signalCode === null) await stop(c);
    expect(kept).toBeDefined();
    const { child, url } = await startDemo();
    const farmer = await signIn(url, 'demo-farmer');
    const list = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
    expect(list.length).toBe(devicesAfterFirstRun);
    expect(list.every((d) => d.latest.length > 0)).toBe(true);
    // The reading recorded in the first run is still there, with its value: the data was kept,
    // not just refilled by the kits since. (The devices list shows only the latest values.)
    const q = new URLSearchParams({ device: kept!.device, metric: kept!.metric, range: '24h' });
    const res = await farmer(`/api/v1/farms/${kept!.farm}/series?${q}`);
    expect(res.status).toBe(200);
    const series = (await res.json()) as Series;
    const at = series.t.findIndex((t) => Math.round(t * 1000) === Date.parse(kept!.time));
    expect(at, `reading of ${kept!.time} in the series after the restart`).toBeGreaterThanOrEqual(0);
    expect(series.v[at]).toBe(kept!.value);
    expect(await stop(child)).toBe(0);
  }, 60_000);
});
