// `hatake start` as a user runs it: a child process that brings up server, gateway and simulated
// kits; the devices appear with fresh readings; Ctrl-C stops it cleanly; a second start keeps
// the data.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../protocol/api.ts';
import { eventually, signIn } from '../helpers/stack.ts';

const ROOT = join(import.meta.dirname, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'hatake-start-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

async function startDemo(): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(
    process.execPath,
    ['bin/hatake.js', 'start', '--data', dataDir, '--http-port', '0', '--mqtt-port', '0', '--interval', '1'],
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
  return { child, url, output: () => out };
}

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGINT');
  });

describe('hatake start', () => {
  let devicesAfterFirstRun = 0;

  it('brings up the pipeline: the simulated devices appear with readings less than a minute old', async () => {
    const { child, url, output } = await startDemo();
    expect(output()).toMatch(/demo-farmer, demo-officer, demo-partner, admin/);
    expect(output()).toMatch(/hatake-demo/);
    const farmer = await signIn(url, 'demo-farmer');
    const devices = await eventually(async () => {
      const list = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
      const fresh = list.filter((d) => d.latest.length > 0 && Date.now() - Date.parse(d.lastSeen!) < 60_000);
      return fresh.length === 3 ? list : undefined;
    }, 30_000);
    expect(devices.map((d) => d.kit).sort()).toEqual([
      'hatake-paddy-water',
      'hatake-soil-probe',
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
    devicesAfterFirstRun = (await (await farmer('/api/v1/devices')).json()).length;
    // The story goes on by itself: the demo scene is processed on the gateway, and each field's
    // model (wheat: OSU SBNRC; paddy: rice top-dressing, from the scouted observations) queues a
    // recommendation for the extension officer.
    const officer = await signIn(url, 'demo-officer');
    const queue = await eventually(async () => {
      const res = await officer('/api/v1/reviews');
      const items = (await res.json()) as { field: string; status: string }[];
      return new Set(items.map((i) => i.field)).size >= 2 ? items : undefined;
    }, 90_000);
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
    const tips = await eventually(async () => {
      const list = (await (await farmer('/api/v1/tips')).json()) as { tip: { kind: string } }[];
      return list.some((t) => t.tip.kind === 'battery_low') ? list : undefined;
    }, 90_000);
    expect(tips.map((t) => t.tip.kind)).toContain('prescription');
    expect(await stop(child)).toBe(0);
  }, 240_000);

  it('keeps the data when started again', async () => {
    // (a first run that failed half-way is still up: stop it, so this one fails for its own reasons)
    for (const c of children) if (c.exitCode === null && c.signalCode === null) await stop(c);
    const { child, url } = await startDemo();
    const farmer = await signIn(url, 'demo-farmer');
    const list = (await (await farmer('/api/v1/devices')).json()) as DeviceView[];
    expect(list.length).toBe(devicesAfterFirstRun);
    expect(list.every((d) => d.latest.length > 0)).toBe(true);
    expect(await stop(child)).toBe(0);
  }, 60_000);
});
