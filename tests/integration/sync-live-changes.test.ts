// The live `change` events a gateway's sync batch makes for the partner's health page (a real
// server, real HTTP): one `device` change per device whose readings were stored or whose
// connection was reported, one `gateway` change when the batch carries the gateway's own report
// (backlog, version), and none for a batch that stored nothing new (a resend).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { GatewaySyncStatus } from '../../protocol/sync.ts';
import { demoManifest, startServer } from '../helpers/stack.ts';
import { SeedGateway } from '../e2e/seed.ts';

type Change = { farm: string; kind: string; id: string };
let dir: string;
let server: HatakeServer;
let gw: SeedGateway;

const STATUS: GatewaySyncStatus = {
  version: '0.1.0',
  backlog: 12,
  backlogBytes: 3400,
  oldestAgeMs: 60_000,
  clockOffsetMs: 0,
  downlinkVersion: 0,
};

const reading = (device: string, metric: string, value: number, unit: string, time: number) => ({
  kind: 'reading' as const,
  body: { device, metric, value, unit, time, flags: [] },
});

/** The change events of the farm's devices and gateways while `send` runs. */
async function changesOf(send: () => Promise<void>): Promise<Change[]> {
  const seen: Change[] = [];
  const on = (c: Change) => {
    if (c.kind === 'device' || c.kind === 'gateway') seen.push(c);
  };
  server.ctx.live.on('change', on);
  try {
    await send();
  } finally {
    server.ctx.live.off('change', on);
  }
  return seen.sort((a, b) => `${a.kind}/${a.id}`.localeCompare(`${b.kind}/${b.id}`));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-sync-live-'));
  let url: string;
  ({ server, url } = await startServer(dir));
  gw = new SeedGateway(server, url, 'demo-farm');
  await gw.send([{ kind: 'manifest', body: demoManifest() }]);
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('live changes of a sync batch for the health page', () => {
  const t = Date.now() - 60_000;

  it('says which devices were heard from, and that the gateway reported', async () => {
    const changes = await changesOf(() =>
      gw.send(
        [
          reading('soil-1', 'soil_vwc', 0.24, 'm3/m3', t),
          reading('soil-1', 'soil_temperature', 18.5, 'degC', t),
          reading('wx-1', 'air_temperature', 21.0, 'degC', t),
        ],
        STATUS,
      ),
    );
    expect(changes).toEqual([
      { farm: 'demo-farm', kind: 'device', id: 'soil-1' },
      { farm: 'demo-farm', kind: 'device', id: 'wx-1' },
      { farm: 'demo-farm', kind: 'gateway', id: 'gw-seed' },
    ]);
  });

  it("says a device's connection changed, with no readings", async () => {
    const changes = await changesOf(() =>
      gw.send([{ kind: 'device_status', body: { device: 'wx-1', online: false, time: Date.now() } }]),
    );
    expect(changes).toEqual([{ farm: 'demo-farm', kind: 'device', id: 'wx-1' }]);
  });

  it('says nothing of devices for readings already stored (a resend), only the report', async () => {
    const changes = await changesOf(() => gw.send([reading('soil-1', 'soil_vwc', 0.24, 'm3/m3', t)], STATUS));
    expect(changes).toEqual([{ farm: 'demo-farm', kind: 'gateway', id: 'gw-seed' }]);
  });
});
