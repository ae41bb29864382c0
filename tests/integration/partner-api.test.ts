// The IT partner's API over real HTTP: a manifest is checked with every problem at its line and
// column (the same checker as `hatake kit validate`); boundary files can be uploaded beside it,
// but a path that leaves the upload is refused at its line and never read; provisioning returns
// the device files once, keeps no secret on the server, keeps secrets on a re-run and rotates on
// request, and publishes the manifest and registry for the farm's gateways. Roles and farms are
// enforced; hostile input gets a coded 4xx.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import type {
  FarmHealth,
  ManifestCheckResult,
  ProvisionResult,
  StoredManifest,
} from '../../protocol/views.ts';
import { eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import { SeedGateway } from '../e2e/seed.ts';

type Fetcher = Awaited<ReturnType<typeof signIn>>;
let stack: Stack;
let partner: Fetcher;
let farmer: Fetcher;

const post = (who: Fetcher, path: string, body: unknown) =>
  who(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const check = async (text: string, files?: Record<string, string>) =>
  (await (
    await post(partner, '/api/v1/farms/demo-farm/manifest/check', { text, files })
  ).json()) as ManifestCheckResult;

const SQUARE =
  '{"type":"Polygon","coordinates":[[[138.902,37.8],[138.9035,37.8],[138.9035,37.801],[138.902,37.801],[138.902,37.8]]]}';
const manifest = (
  boundary: string,
  kit = 'hatake-soil-probe',
) => `farm: { id: demo-farm, name: はたけデモ農場, region: niigata }
broker: { host: 192.168.1.10 }
fields:
  - id: upland-1
    name: 畑1号
    boundary: ${boundary}
devices:
  - { id: soil-1, kit: ${kit}, field: upland-1, position: [138.9027, 37.8005] }
  - { id: wx-1, kit: hatake-weather-station, field: upland-1 }
`;

beforeAll(async () => {
  stack = await startStack();
  partner = await signIn(stack.httpUrl, 'demo-partner');
  farmer = await signIn(stack.httpUrl, 'demo-farmer');
  await eventually(async () => (await farmer('/api/v1/farms/demo-farm/fields')).status === 200, 15_000);
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('checking a manifest', () => {
  it('reports every problem at its line and column', async () => {
    const r = await check(manifest(SQUARE, 'no-such-kit').replace('wx-1, kit', 'soil-1, kit'));
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => [p.line, p.code])).toEqual([
      [8, 'HATAKE_E_UNKNOWN_KIT'],
      [9, 'HATAKE_E_MANIFEST_DUPLICATE_ID'], // soil-1 used twice
    ]);
    expect(r.problems[0]!.column).toBeGreaterThan(1);
    expect(r.problems[0]!.expected).toMatch(/hatake-soil-probe/);
    expect(r.devices).toBe(2);
  });

  it('reads a boundary file uploaded beside the manifest', async () => {
    expect((await check(manifest('upland-1.geojson'), { 'upland-1.geojson': SQUARE })).ok).toBe(true);
    const missing = await check(manifest('upland-1.geojson'));
    expect(missing.problems).toHaveLength(1);
    expect(missing.problems[0]).toMatchObject({ line: 6, pointer: '/fields/0/boundary' });
    expect(missing.problems[0]!.message).toMatch(/not found/);
  });

  it('refuses a boundary path that leaves the upload at its line, without reading it', async () => {
    // A real GeoJSON polygon on the server's disk: were it read, the check would pass.
    const target = join(import.meta.dirname, '../unit/firmware-config/fixtures/boundaries/upland-3.geojson');
    readFileSync(target);
    for (const path of [
      target,
      '../unit/firmware-config/fixtures/boundaries/upland-3.geojson',
      '"..\\\\x.json"',
    ]) {
      const r = await check(manifest(path));
      expect(r.ok).toBe(false);
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0]).toMatchObject({ line: 6, pointer: '/fields/0/boundary' });
      expect(r.problems[0]!.message).toMatch(/cannot be read here/);
    }
    // The same through an alias is refused too.
    const aliased = manifest('*b').replace(
      'broker: { host: 192.168.1.10 }',
      `broker: { host: &b ${target} }`,
    );
    const r = await check(aliased);
    expect(r.ok).toBe(false);
    expect(
      r.problems.some((p) => p.pointer === '/fields/0/boundary' && /cannot be read here/.test(p.message)),
    ).toBe(true);
  });

  it('answers broken YAML, alias bombs and oversized or hostile bodies with a clear error', async () => {
    const broken = await check('farm: { id: demo-farm\nfields: [');
    expect(broken.ok).toBe(false);
    expect(broken.problems[0]!.line).toBeGreaterThan(0);
    expect(broken.problems[0]!.code).toBe('HATAKE_E_MANIFEST_YAML');
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++)
      bomb.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`,
      );
    const b = await check(bomb.join('\n'));
    expect(b.ok).toBe(false);
    expect(b.problems).toHaveLength(1);
    expect(b.problems[0]!.code).toBe('HATAKE_E_MANIFEST_YAML');
    const big = await post(partner, '/api/v1/farms/demo-farm/manifest/check', {
      text: 'x'.repeat(1024 * 1024 + 1),
    });
    expect(big.status).toBe(400);
    const badName = await post(partner, '/api/v1/farms/demo-farm/manifest/check', {
      text: 'a: 1',
      files: { '../x.json': '{}' },
    });
    expect(badName.status).toBe(400);
    const extra = await post(partner, '/api/v1/farms/demo-farm/manifest/check', {
      text: 'a: 1',
      admin: true,
    });
    expect(extra.status).toBe(400);
  });
});

describe('provisioning', () => {
  let first: ProvisionResult;

  it('returns each device’s config, ESPHome snippet and QR code once, and keeps only hashes', async () => {
    const res = await post(partner, '/api/v1/farms/demo-farm/provision', { text: manifest(SQUARE) });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    first = (await res.json()) as ProvisionResult;
    expect(first.issued.sort()).toEqual(['soil-1', 'wx-1']);
    const soil = first.devices.find((d) => d.id === 'soil-1')!;
    const config = JSON.parse(soil.files!.config) as { mqtt: { host: string; port: number; secret: string } };
    expect(config.mqtt).toMatchObject({ host: '192.168.1.10', port: 1883 });
    expect(soil.files!.esphome).toContain(config.mqtt.secret);
    expect(Buffer.from(soil.files!.qrPng, 'base64').subarray(1, 4).toString()).toBe('PNG');
    expect(first.sheetHtml).toContain('data:image/png;base64,');
    // Published for the gateways: the registry holds the hash of the secret, never the secret.
    const registry = stack.server!.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry;
    expect(registry.devices.find((d) => d.id === 'soil-1')!.secretHash).toBe(hashSecret(config.mqtt.secret));
    expect(stack.server!.ctx.downlink.get('demo-farm', 'manifest', 'manifest')).toBeDefined();
    // No copy of a secret anywhere in the server's database file.
    stack.server!.ctx.db.pragma('wal_checkpoint(TRUNCATE)');
    const db = readFileSync(join(stack.dir, 'server', 'server.db'));
    expect(db.includes(Buffer.from(config.mqtt.secret))).toBe(false);
    const stored = (await (await partner('/api/v1/farms/demo-farm/manifest')).json()) as StoredManifest;
    expect(stored.source).toBe('provisioned');
    expect(stored.text).toBe(manifest(SQUARE));
  });

  it('keeps every secret on a re-run and replaces one on rotation', async () => {
    const again = (await (
      await post(partner, '/api/v1/farms/demo-farm/provision', { text: manifest(SQUARE) })
    ).json()) as ProvisionResult;
    expect(again.issued).toEqual([]);
    expect(again.kept.sort()).toEqual(['soil-1', 'wx-1']);
    expect(again.devices.every((d) => d.files === null)).toBe(true);
    const rotated = (await (
      await post(partner, '/api/v1/farms/demo-farm/provision', {
        text: manifest(SQUARE),
        rotate: 'wx-1',
        broker: { host: 'gw.local', port: 8883, tls: true },
      })
    ).json()) as ProvisionResult;
    expect(rotated.issued).toEqual(['wx-1']);
    const wx = JSON.parse(rotated.devices.find((d) => d.id === 'wx-1')!.files!.config) as {
      mqtt: { host: string; tls: boolean; secret: string };
    };
    expect(wx.mqtt).toMatchObject({ host: 'gw.local', tls: true });
    const oldWx = JSON.parse(first.devices.find((d) => d.id === 'wx-1')!.files!.config) as {
      mqtt: { secret: string };
    };
    expect(wx.mqtt.secret).not.toBe(oldWx.mqtt.secret);
  });

  it('refuses a manifest with problems (422, each at its line), another farm’s manifest, and an unknown device to rotate', async () => {
    const bad = await post(partner, '/api/v1/farms/demo-farm/provision', { text: manifest(SQUARE, 'nope') });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { problems: { line: number }[] }).problems[0]!.line).toBe(8);
    const other = await post(partner, '/api/v1/farms/demo-farm/provision', {
      text: manifest(SQUARE).replace('id: demo-farm', 'id: other-farm'),
    });
    expect(other.status).toBe(403);
    const rotate = await post(partner, '/api/v1/farms/demo-farm/provision', {
      text: manifest(SQUARE),
      rotate: 'ghost',
    });
    expect(rotate.status).toBe(404);
    const host = await post(partner, '/api/v1/farms/demo-farm/provision', {
      text: manifest(SQUARE),
      broker: { host: 'a b<script>' },
    });
    expect(host.status).toBe(400);
  });

  it('lets only partners and admins of the farm provision; a farmer may read health but not provision', async () => {
    expect((await post(farmer, '/api/v1/farms/demo-farm/provision', { text: manifest(SQUARE) })).status).toBe(
      403,
    );
    expect(
      (await post(farmer, '/api/v1/farms/demo-farm/manifest/check', { text: manifest(SQUARE) })).status,
    ).toBe(403);
    expect((await farmer('/api/v1/farms/demo-farm/manifest')).status).toBe(403);
    expect((await farmer('/api/v1/farms/demo-farm/health')).status).toBe(200);
    expect(
      (await post(partner, '/api/v1/farms/other-farm/provision', { text: manifest(SQUARE) })).status,
    ).toBe(404);
  });
});

describe('health', () => {
  it('shows each device’s state, battery and data quality, and each gateway’s backlog and version', async () => {
    const gw = new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm', 'gw-barn');
    const now = Date.now();
    await gw.send(
      [
        {
          kind: 'reading',
          body: { device: 'wx-1', metric: 'battery', value: 3.61, unit: 'V', time: now - 1000, flags: [] },
        },
        {
          kind: 'reading',
          body: {
            device: 'wx-1',
            metric: 'air_temperature',
            value: 55,
            unit: 'degC',
            time: now - 2000,
            flags: ['spike'],
          },
        },
        {
          kind: 'reading',
          body: {
            device: 'wx-1',
            metric: 'air_temperature',
            value: 20,
            unit: 'degC',
            time: now - 3000,
            flags: [],
          },
        },
      ],
      {
        version: '0.2.0',
        backlog: 7,
        backlogBytes: 700,
        oldestAgeMs: 5000,
        clockOffsetMs: null,
        downlinkVersion: 0,
      },
    );
    const h = (await (await partner('/api/v1/farms/demo-farm/health')).json()) as FarmHealth;
    const wx = h.devices.find((d) => d.id === 'wx-1')!;
    expect(wx).toMatchObject({ state: 'ok', provisioned: true, battery: { value: 3.61, unit: 'V' } });
    expect(wx.quality).toEqual({ readings: 3, flagged: 1, flags: { spike: 1 } });
    expect(h.devices.find((d) => d.id === 'water-1')!.state).toBe('never');
    expect(h.gateways.find((g) => g.id === 'gw-barn')).toMatchObject({
      version: '0.2.0',
      backlog: 7,
      oldestAgeMs: 5000,
    });
  });
});
