// The IT partner's API over real HTTP: a manifest is checked with every problem at its line and
// column (the same checker as `hatake kit validate`); boundary files can be uploaded beside it,
// but a path that leaves the upload is refused at its line and never read; provisioning returns
// the device files once, keeps no secret on the server, keeps secrets on a re-run and rotates on
// request, and publishes the manifest and registry for the farm's gateways. Roles and farms are
// enforced; hostile input gets a coded 4xx. Health blames the gateway, not the devices, while the
// farm's gateways have not synced since a device was due; the alerts a real gateway raised read as
// sentences of the partner page in both languages; a gateway's refusal of the configuration sent
// down stays its report however many alerts follow it; and a device's MQTT connection synced by
// its gateway reads as `online`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import type {
  FarmHealth,
  ManifestCheckResult,
  ProvisionResult,
  StoredManifest,
} from '../../protocol/views.ts';
import { demoManifest, eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';
import { SeedGateway } from '../e2e/seed.ts';
import { alertText, partsText } from '../../dashboard/ui/gateway-alerts.ts';
import { translate } from '../../dashboard/ui/i18n.ts';
import { outcomeOf } from '../../dashboard/ui/gateway-settings.ts';

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

  // The stack's gateway was provisioned on the farm (soil-1, wx-1, water-1) and synced its
  // registry: the manifest's soil-1 and wx-1 keep the keys they have, soil-2 is new.
  const withNew = `${manifest(SQUARE)}  - { id: soil-2, kit: hatake-soil-probe, field: upland-1 }\n`;

  it('keeps the keys of the devices the gateway has; returns each new device’s config, ESPHome snippet and QR code once, and keeps only hashes', async () => {
    await eventually(async () => (await check(withNew)).keys?.gatewayRegistry, 15_000);
    const res = await post(partner, '/api/v1/farms/demo-farm/provision', { text: withNew });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    first = (await res.json()) as ProvisionResult;
    expect(first.issued).toEqual(['soil-2']);
    expect(first.kept.sort()).toEqual(['soil-1', 'wx-1']);
    const soil = first.devices.find((d) => d.id === 'soil-2')!;
    const config = JSON.parse(soil.files!.config) as { mqtt: { host: string; port: number; secret: string } };
    expect(config.mqtt).toMatchObject({ host: '192.168.1.10', port: 1883 });
    expect(soil.files!.esphome).toContain(config.mqtt.secret);
    expect(Buffer.from(soil.files!.qrPng, 'base64').subarray(1, 4).toString()).toBe('PNG');
    expect(first.sheetHtml).toContain('data:image/png;base64,');
    expect(first.devices.find((d) => d.id === 'soil-1')!.files).toBeNull();
    // Published for the gateways: the registry holds the hash of the secret, never the secret;
    // the devices kept have the hashes of the secrets they were given on the farm.
    const registry = stack.server!.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry;
    const hashOf = (id: string) => registry.devices.find((d) => d.id === id)!.secretHash;
    expect(hashOf('soil-2')).toBe(hashSecret(config.mqtt.secret));
    expect(hashOf('soil-1')).toBe(hashSecret(stack.secrets['soil-1']!));
    expect(hashOf('wx-1')).toBe(hashSecret(stack.secrets['wx-1']!));
    expect(stack.server!.ctx.downlink.get('demo-farm', 'manifest', 'manifest')).toBeDefined();
    // No copy of a secret anywhere in the server's database file.
    stack.server!.ctx.db.pragma('wal_checkpoint(TRUNCATE)');
    const db = readFileSync(join(stack.dir, 'server', 'server.db'));
    expect(db.includes(Buffer.from(config.mqtt.secret))).toBe(false);
    const stored = (await (await partner('/api/v1/farms/demo-farm/manifest')).json()) as StoredManifest;
    expect(stored.source).toBe('provisioned');
    expect(stored.text).toBe(withNew);
  });

  it('keeps every secret on a re-run and replaces one on rotation', async () => {
    const again = (await (
      await post(partner, '/api/v1/farms/demo-farm/provision', { text: withNew })
    ).json()) as ProvisionResult;
    expect(again.issued).toEqual([]);
    expect(again.kept.sort()).toEqual(['soil-1', 'soil-2', 'wx-1']);
    expect(again.devices.every((d) => d.files === null)).toBe(true);
    const rotated = (await (
      await post(partner, '/api/v1/farms/demo-farm/provision', {
        text: withNew,
        rotate: 'wx-1',
        broker: { host: 'gw.local', port: 8883, tls: true },
      })
    ).json()) as ProvisionResult;
    expect(rotated.issued).toEqual(['wx-1']);
    const wx = JSON.parse(rotated.devices.find((d) => d.id === 'wx-1')!.files!.config) as {
      mqtt: { host: string; tls: boolean; secret: string };
    };
    expect(wx.mqtt).toMatchObject({ host: 'gw.local', tls: true });
    expect(wx.mqtt.secret).not.toBe(stack.secrets['wx-1']);
    // The rotation stands: the gateway's older key for wx-1 does not come back.
    const after = (await (
      await post(partner, '/api/v1/farms/demo-farm/provision', { text: withNew })
    ).json()) as ProvisionResult;
    expect(after.issued).toEqual([]);
    const registry = stack.server!.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry;
    expect(registry.devices.find((d) => d.id === 'wx-1')!.secretHash).toBe(hashSecret(wx.mqtt.secret));
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

    // The battery judged as the battery-low rule judges it: the median of the newest three
    // voltages of the day (a reading in another unit is not one of them), not the oldest.
    const volts = [3.9, 3.9, 3.9, 3.4, 3.45, 3.42];
    await gw.send([
      ...volts.map((value, i) => ({
        kind: 'reading' as const,
        body: {
          device: 'soil-1',
          metric: 'battery',
          value,
          unit: 'V',
          time: now - 60_000 * (10 - i),
          flags: [],
        },
      })),
      {
        kind: 'reading' as const,
        body: { device: 'soil-1', metric: 'battery', value: 80, unit: '%', time: now - 1000, flags: [] },
      },
    ]);
    const soil = (
      (await (await partner('/api/v1/farms/demo-farm/health')).json()) as FarmHealth
    ).devices.find((d) => d.id === 'soil-1')!;
    expect(soil.batteryState).toMatchObject({ state: 'low', volts: 3.42, samples: 3, lowV: 3.5 });
    expect(h.gateways.find((g) => g.id === 'gw-barn')).toMatchObject({
      version: '0.2.0',
      backlog: 7,
      oldestAgeMs: 5000,
    });
  });

  it('says a device’s state is unknown, naming the gateways, while none of its farm’s has synced since it was due', async () => {
    const admin = await signIn(stack.httpUrl, 'admin');
    const states = async () => {
      const h = (await (await admin('/api/v1/farms/hill-farm/health')).json()) as FarmHealth;
      return Object.fromEntries(h.devices.map((d) => [d.id, d]));
    };
    const MIN = 60_000;
    // The server stamps last_sync with its own clock when a batch arrives: a gateway that went
    // offline at some time is one whose last_sync is that time.
    const lastSyncAt = (id: string, t: number) =>
      stack.server!.ctx.db.prepare('UPDATE gateways SET last_sync = ? WHERE id = ?').run(t, id);
    // A farm of its own (the stack's gateway keeps syncing demo-farm): four soil probes reporting
    // every 60 s, heard through gw-hill; a second gateway, gw-hill-2, registered but never synced.
    const demo = demoManifest();
    const probe = demo.devices.find((d) => d.kit === 'hatake-soil-probe')!;
    const manifest = {
      ...demo,
      farm: { ...demo.farm, id: 'hill-farm', name: '丘の農場' },
      devices: ['soil-a', 'soil-b', 'soil-c', 'soil-d'].map((id) => ({ ...probe, id, name: id })),
    };
    const gw = new SeedGateway(stack.server!, stack.httpUrl, 'hill-farm', 'gw-hill');
    stack.server!.ctx.auth.issueGatewayToken('gw-hill-2', 'hill-farm');
    const reading = (device: string, time: number) => ({
      kind: 'reading' as const,
      body: { device, metric: 'soil_temperature', value: 12, unit: 'degC', time, flags: [] },
    });
    const now = Date.now();
    await gw.send([
      { kind: 'manifest', body: manifest },
      reading('soil-a', now - 61 * MIN), // a minute before the gateway's last sync
      reading('soil-b', now - 180 * MIN), // silent two hours before it
      reading('soil-c', now - 30 * MIN), // after it: impossible but for a clock off — still the gateway's
    ]);
    lastSyncAt('gw-hill', now - 60 * MIN);

    let d = await states();
    const notSyncing = { gateways: ['gw-hill', 'gw-hill-2'], since: new Date(now - 60 * MIN).toISOString() };
    expect(d['soil-a']).toMatchObject({ state: 'unknown', gatewayNotSyncing: notSyncing });
    expect(d['soil-c']).toMatchObject({ state: 'unknown', gatewayNotSyncing: notSyncing });
    // Silent long before the gateway stopped: the device's own doing.
    expect(d['soil-b']).toMatchObject({ state: 'silent', gatewayNotSyncing: null });
    expect(d['soil-d']).toMatchObject({ state: 'never', gatewayNotSyncing: null });

    // The gateway syncs again, without their readings: now the devices are silent. soil-d, last
    // heard 11 minutes ago (within 12 intervals), is late.
    await gw.send([reading('soil-d', Date.now() - 11 * MIN)]);
    d = await states();
    expect(d['soil-a']).toMatchObject({ state: 'silent', gatewayNotSyncing: null });
    expect(d['soil-c']).toMatchObject({ state: 'silent', gatewayNotSyncing: null });
    expect(d['soil-d']).toMatchObject({ state: 'late', gatewayNotSyncing: null });

    // The gateway's last sync 10 minutes ago: before soil-d was due (8 minutes ago), so soil-d is
    // unknown rather than late; soil-a was due long before it, so it stays silent.
    lastSyncAt('gw-hill', Date.now() - 10 * MIN);
    d = await states();
    expect(d['soil-d']).toMatchObject({
      state: 'unknown',
      gatewayNotSyncing: { gateways: ['gw-hill', 'gw-hill-2'] },
    });
    expect(d['soil-a']!.state).toBe('silent');

    // gw-hill revoked: only gw-hill-2 can bring readings, and it never synced.
    stack.server!.ctx.auth.revokeGateway('gw-hill');
    expect((await states())['soil-a']).toMatchObject({
      state: 'unknown',
      gatewayNotSyncing: { gateways: ['gw-hill-2'], since: null },
    });
    // No gateway left: nothing to blame but the device.
    stack.server!.ctx.auth.revokeGateway('gw-hill-2');
    expect((await states())['soil-a']).toMatchObject({ state: 'silent', gatewayNotSyncing: null });
  });

  it('reads every alert a real gateway raised as a sentence, in Japanese and in English', async () => {
    // The stack's gateway hears soil-1, later finds it silent, and then hears it again.
    const publish = async () => {
      const client = await mqtt.connectAsync(stack.mqttUrl, {
        username: 'soil-1',
        password: stack.secrets['soil-1'],
        reconnectPeriod: 0,
      });
      await client.publishAsync(
        'hatake/v1/demo-farm/soil-1/up',
        JSON.stringify({ values: { soil_temperature: 11 } }),
        { qos: 1 },
      );
      await client.endAsync();
    };
    const lastSeen = () => stack.gateway.store.devices().find((x) => x.id === 'soil-1')?.lastSeen ?? 0;
    await publish();
    await eventually(lastSeen, 10_000);
    // 20 minutes on, as the gateway sees it: it last heard soil-1 then.
    const before = Date.now() - 20 * 60_000;
    stack.gateway.store.db.prepare("UPDATE devices SET last_seen = ? WHERE id = 'soil-1'").run(before);
    stack.gateway.maintenance.checkDevices(Date.now());
    await publish();
    await eventually(() => lastSeen() > before, 10_000);
    const alerts = await eventually(async () => {
      const h = (await (await partner('/api/v1/farms/demo-farm/health')).json()) as FarmHealth;
      const a = h.gateways.find((g) => g.id === 'gw-test')?.alerts ?? [];
      return a.some((x) => x.type === 'device_silent') && a.some((x) => x.type === 'device_back')
        ? a
        : undefined;
    }, 15_000);
    // Whatever else it raised on the way (what provisioning sent down, above) reads as a sentence too.
    for (const a of alerts) {
      expect(
        alertText(a, 'ja', (k) => translate('ja', k)),
        `${a.type}: ${a.message}`,
      ).toBeDefined();
      expect(
        alertText(a, 'en', (k) => translate('en', k)),
        `${a.type}: ${a.message}`,
      ).toBeDefined();
    }
    const say = (type: string, lang: 'ja' | 'en') =>
      alertText(
        alerts.find((a) => a.type === type)!,
        lang,
        (k) => translate(lang, k),
      )!.parts;
    expect(say('device_silent', 'ja')[0]).toEqual({ name: 'soil-1' });
    expect(partsText(say('device_silent', 'ja'))).toMatch(
      /^soil-1 から(20|21)分データが届いていません（通常は60秒ごと）$/,
    );
    expect(partsText(say('device_silent', 'en'))).toMatch(
      /^soil-1 has sent nothing for (20|21) minutes \(expected every 60 seconds\)$/,
    );
    expect(partsText(say('device_back', 'ja'))).toMatch(/^soil-1 から\d+(秒|分)ぶりにデータが届きました$/);
  });
  it('keeps a gateway’s refusal of the configuration as its report however many alerts follow it', async () => {
    const gw = new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm', 'gw-cfg');
    const MIN = 60_000;
    const now = Date.now();
    let n = 0;
    const event = (
      type: string,
      minutesAgo: number,
      message: string,
      detail?: Record<string, string | number | boolean>,
      device?: string,
    ) => ({
      kind: 'event' as const,
      body: {
        id: `cfg-event-${String(++n).padStart(3, '0')}`,
        type,
        severity: type === 'downlink_refused' ? 'critical' : 'info',
        time: now - minutesAgo * MIN,
        message,
        ...(device ? { device } : {}),
        ...(detail ? { detail } : {}),
      },
    });
    const refusal =
      'refused config gateway v41: downlink config gateway: /retention/rawDays must be >= 0.041';
    const kinds = ['recommendation', 'automation', 'override'];
    await gw.send([
      event('downlink_applied', 120, 'applied config gateway v40: configuration v40: nothing changed', {
        kind: 'config',
        id: 'gateway',
        version: 40,
      }),
      event('downlink_refused', 100, refusal, {
        kind: 'config',
        id: 'gateway',
        version: 41,
        code: 'HATAKE_E_CONFIG',
      }),
      // After it: 25 alerts — every other document sent down, devices going silent and coming back,
      // an event that only says "config" in its detail, and another document of the config kind.
      ...Array.from({ length: 21 }, (_, i) =>
        i % 3 === 2
          ? event(i % 2 ? 'device_silent' : 'device_back', 90 - i, 'soil-1 silent or back', {}, 'soil-1')
          : event('downlink_applied', 90 - i, `applied ${kinds[i % 3]} x${i} v${50 + i}`, {
              kind: kinds[i % 3]!,
              id: `x${i}`,
              version: 50 + i,
            }),
      ),
      event('disk_full', 60, 'disk full', { kind: 'config', id: 'gateway', version: 99 }),
      event('downlink_applied', 59, 'applied config other v98', { kind: 'config', id: 'other', version: 98 }),
      event('downlink_refused', 58, 'refused config gateway v97', {
        kind: 'config',
        id: 'gateway',
        version: -1,
      }),
      event('downlink_applied', 57, 'applied config gateway', { kind: 'config', id: 'gateway' }),
    ]);
    const health = async () =>
      ((await (await partner('/api/v1/farms/demo-farm/health')).json()) as FarmHealth).gateways.find(
        (g) => g.id === 'gw-cfg',
      )!;
    let g = await health();
    // The refusal is no longer among the 20 alerts…
    expect(g.alerts).toHaveLength(20);
    expect(g.alerts.some((a) => a.type === 'downlink_refused' && a.downlink?.version === 41)).toBe(false);
    // …but it is still the gateway's report about its settings, with why.
    expect(g.configReport).toEqual({
      outcome: 'refused',
      version: 41,
      time: new Date(now - 100 * MIN).toISOString(),
      message: refusal,
      event: {
        id: 'cfg-event-002',
        type: 'downlink_refused',
        severity: 'critical',
        time: new Date(now - 100 * MIN).toISOString(),
        device: null,
        message: refusal,
        detail: { kind: 'config', id: 'gateway', version: 41, code: 'HATAKE_E_CONFIG' },
        downlink: { kind: 'config', id: 'gateway', version: 41 },
      },
    });
    // What the page makes of it: refused, not merely received.
    expect(outcomeOf(41, { downlinkVersion: 70, revoked: null }, g.configReport).outcome).toBe('refused');

    // A report older than the alerts' week stays the report too; a newer one replaces it.
    await gw.send([
      event('device_back', 1, 'soil-1 back', {}, 'soil-1'),
      event('downlink_applied', 8 * 24 * 60, 'applied config gateway v39', {
        kind: 'config',
        id: 'gateway',
        version: 39,
      }),
    ]);
    expect((await health()).configReport).toMatchObject({ outcome: 'refused', version: 41 });
    await gw.send([
      event('downlink_applied', 0, 'applied config gateway v72: configuration withdrawn', {
        kind: 'config',
        id: 'gateway',
        version: 72,
        deleted: true,
      }),
    ]);
    g = await health();
    expect(g.configReport).toMatchObject({
      outcome: 'applied',
      version: 72,
      event: { detail: { deleted: true } },
    });
    // A gateway that never reported about its settings has no report.
    const quiet = new SeedGateway(stack.server!, stack.httpUrl, 'demo-farm', 'gw-cfg-quiet');
    await quiet.send([event('disk_ok', 0, 'disk ok')]);
    const h = (await (await partner('/api/v1/farms/demo-farm/health')).json()) as FarmHealth;
    expect(h.gateways.find((x) => x.id === 'gw-cfg-quiet')!.configReport).toBeNull();
  });

  it('reads each device’s MQTT connection as its gateway synced it, null while never told', async () => {
    const admin = await signIn(stack.httpUrl, 'admin');
    const demo = demoManifest();
    const probe = demo.devices.find((d) => d.kit === 'hatake-soil-probe')!;
    const manifest = {
      ...demo,
      farm: { ...demo.farm, id: 'wire-farm', name: '配線の農場' },
      devices: ['wire-a', 'wire-b', 'wire-c'].map((id) => ({ ...probe, id, name: id })),
    };
    const gw = new SeedGateway(stack.server!, stack.httpUrl, 'wire-farm', 'gw-wire');
    const status = (device: string, online: boolean) => ({
      kind: 'device_status' as const,
      body: { device, online, time: Date.now() },
    });
    const online = async () => {
      const h = (await (await admin('/api/v1/farms/wire-farm/health')).json()) as FarmHealth;
      const devices = (await (await admin('/api/v1/devices')).json()) as {
        farm: string;
        id: string;
        online: boolean | null;
      }[];
      return {
        health: Object.fromEntries(h.devices.map((d) => [d.id, d.online])),
        devices: Object.fromEntries(
          devices.filter((d) => d.farm === 'wire-farm').map((d) => [d.id, d.online]),
        ),
      };
    };
    await gw.send([{ kind: 'manifest', body: manifest }, status('wire-a', true), status('wire-b', true)]);
    const connected = { 'wire-a': true, 'wire-b': true, 'wire-c': null };
    expect(await online()).toEqual({ health: connected, devices: connected });
    // wire-b drops off; the broker publishes its last will and the gateway syncs it.
    await gw.send([status('wire-b', false)]);
    const dropped = { 'wire-a': true, 'wire-b': false, 'wire-c': null };
    expect(await online()).toEqual({ health: dropped, devices: dropped });
    // A device first known by its readings (a LoRaWAN sensor never connects to the broker; here
    // a farm whose manifest has not arrived yet) has no connection state: readings do not make it
    // "connected".
    const lora = new SeedGateway(stack.server!, stack.httpUrl, 'lora-farm', 'gw-lora');
    await lora.send([
      {
        kind: 'reading',
        body: {
          device: 'lse01-1',
          metric: 'soil_vwc',
          value: 0.3,
          unit: 'm3/m3',
          time: Date.now(),
          flags: [],
        },
      },
    ]);
    const all = (await (await admin('/api/v1/devices')).json()) as {
      farm: string;
      id: string;
      online: unknown;
    }[];
    expect(all.find((d) => d.farm === 'lora-farm' && d.id === 'lse01-1')).toMatchObject({ online: null });
    expect(await online()).toEqual({ health: dropped, devices: dropped });
  });
});
