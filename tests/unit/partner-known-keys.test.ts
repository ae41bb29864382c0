// Which key provisioning keeps for each device when the server knows several — the registry it
// provisioned and those the farm's gateways synced — over a real SQLite server database: a key
// rotated here stands against a gateway that has not applied it yet (however often it resends its
// older one, and when a gateway that never synced sends a key the server knew before); a key rotated on the farm afterwards wins over the server's; a revoked gateway and
// another farm's registry count for nothing; a resent registry changes no time; the farm's imagery
// providers come from its gateways.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { openServerDb } from '../../dashboard/db.ts';
import { Downlink } from '../../dashboard/downlink.ts';
import {
  applyGatewayRegistries,
  keyPreview,
  knownKeys,
  migratePartner,
  PARTNER_MIGRATIONS,
  provision,
} from '../../dashboard/partner/manifests.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { migrate, type Db } from '../../runtime/sqlite.ts';

const catalogue = loadCatalogue();
const FARM = 'key-farm';
const TEXT = `farm: { id: ${FARM}, name: 鍵の農場 }
broker: { host: 127.0.0.1 }
fields:
  - id: f1
    name: 畑
    boundary: { type: Polygon, coordinates: [[[138.9, 37.8], [138.91, 37.8], [138.91, 37.81], [138.9, 37.81], [138.9, 37.8]]] }
devices:
  - { id: soil-1, kit: hatake-soil-probe, field: f1 }
  - { id: wx-1, kit: hatake-weather-station, field: f1 }
  - { id: soil-2, kit: hatake-soil-probe, field: f1 }
`;
const h = (s: string) => hashSecret(`secret-of-${s}-padded-to-length`);
const registry = (devices: Record<string, string>, providers?: Registry['providers']): Registry => ({
  farm: FARM,
  devices: Object.entries(devices).map(([id, secret]) => ({
    id,
    kit: id.startsWith('wx') ? 'hatake-weather-station' : 'hatake-soil-probe',
    secretHash: h(secret),
    rotatedAt: '2020-01-01T00:00:00.000Z', // a farm clock far behind: never read for the order
  })),
  ...(providers ? { providers } : {}),
});
const hashes = (r: Registry | undefined) =>
  Object.fromEntries((r?.devices ?? []).map((d) => [d.id, d.secretHash]));

let db: Db;
let downlink: Downlink;
const gw = (id: string, farm = FARM) => ({ id, farm });
const sync = (gateway: string, r: Registry, now: number) => applyGatewayRegistries(db, gw(gateway), now, [r]);
const provisionAt = async (now: number, rotate?: string) => {
  const out = await provision({ db, downlink, catalogue, user: 'partner', now }, FARM, {
    text: TEXT,
    ...(rotate ? { rotate } : {}),
  });
  if (!('result' in out)) throw new Error(JSON.stringify(out.problems));
  return { ...out.result, sent: downlink.get(FARM, 'registry', 'registry')!.body as Registry };
};

beforeEach(() => {
  db = openServerDb(':memory:');
  migratePartner(db);
  downlink = new Downlink(db);
  const add = db.prepare("INSERT INTO gateways (id, farm, token_hash, created) VALUES (?, ?, 'x', 0)");
  add.run('gw-a', FARM);
  add.run('gw-b', FARM);
  add.run('gw-other', 'other-farm');
});
afterEach(() => db.close());

describe('the keys the server knows for a farm', () => {
  it('knows none before provisioning or a gateway’s sync: every device would get a new key', () => {
    expect(knownKeys(db, FARM)).toMatchObject({ registry: undefined, gatewayAt: null });
  });

  it('keeps the keys a gateway synced, and a key rotated here stands against the gateway’s older one', async () => {
    sync('gw-a', registry({ 'soil-1': 'a1', 'wx-1': 'w1' }), 1000);
    const first = await provisionAt(2000, 'wx-1');
    expect(first.issued.sort()).toEqual(['soil-2', 'wx-1']);
    expect(first.kept).toEqual(['soil-1']);
    expect(hashes(first.sent)['soil-1']).toBe(h('a1'));
    const rotatedWx = hashes(first.sent)['wx-1'];
    expect(rotatedWx).not.toBe(h('w1'));
    // The gateway has not applied it yet and resends what it has, later and again.
    sync('gw-a', registry({ 'soil-1': 'a1', 'wx-1': 'w1' }), 3000);
    sync('gw-a', registry({ 'soil-1': 'a1', 'wx-1': 'w1' }), 3500);
    const known = knownKeys(db, FARM);
    expect(hashes(known.registry)).toEqual({
      'soil-1': h('a1'),
      'wx-1': rotatedWx,
      'soil-2': hashes(first.sent)['soil-2'],
    });
    expect(known.from.get('wx-1')).toBe('server');
    expect(known.gatewayAt).toBe(3500);
    const again = await provisionAt(4000);
    expect(again.issued).toEqual([]);
    expect(hashes(again.sent)).toEqual(hashes(first.sent));
  });

  it('a gateway’s first sync cannot undo a rotation with a key the server knew before it', async () => {
    // gw-a told the server wx-1's key; the partner rotates it here; gw-b, which never synced,
    // then sends the same old key for the first time.
    sync('gw-a', registry({ 'soil-1': 'a1', 'wx-1': 'w1' }), 1000);
    const first = await provisionAt(2000, 'wx-1');
    const rotatedWx = hashes(first.sent)['wx-1'];
    sync('gw-b', registry({ 'soil-1': 'a1', 'wx-1': 'w1' }), 3000);
    const known = knownKeys(db, FARM);
    expect(hashes(known.registry)['wx-1']).toBe(rotatedWx);
    expect(known.from.get('wx-1')).toBe('server');
    expect(known.heard['wx-1']).toBe(2000);
    // soil-1's key is as old as the server's first knowledge of it, whoever sent it.
    expect(known.heard['soil-1']).toBe(1000);
    // A key the server never knew still wins when it arrives after the rotation (made on the farm).
    sync('gw-b', registry({ 'soil-1': 'a1', 'wx-1': 'w2' }), 4000);
    expect(hashes(knownKeys(db, FARM).registry)['wx-1']).toBe(h('w2'));
  });

  it('nor with a key the server itself issued before rotating it', async () => {
    const first = await provisionAt(1000);
    const oldWx = first.sent.devices.find((d) => d.id === 'wx-1')!;
    const second = await provisionAt(2000, 'wx-1');
    expect(hashes(second.sent)['wx-1']).not.toBe(oldWx.secretHash);
    // gw-a was set up from the first provisioning and syncs for the first time after the second.
    sync('gw-a', { ...first.sent, devices: first.sent.devices.map((d) => ({ ...d })) }, 3000);
    const known = knownKeys(db, FARM);
    expect(hashes(known.registry)).toEqual(hashes(second.sent));
    expect(known.heard['wx-1']).toBe(2000);
    expect(known.heard['soil-1']).toBe(1000);
  });

  it('fills the key history from what a server upgraded to it already holds', () => {
    const old = openServerDb(':memory:');
    try {
      migrate(old, 'partner', PARTNER_MIGRATIONS.slice(0, 2));
      old
        .prepare("INSERT INTO gateways (id, farm, token_hash, created) VALUES ('gw-a', ?, 'x', 0)")
        .run(FARM);
      old
        .prepare('INSERT INTO partner_gateway_registries VALUES (?, ?, ?, ?, ?)')
        .run(FARM, 'gw-a', JSON.stringify(registry({ 'soil-1': 'a1', 'wx-1': 'w1' })), '{"wx-1":700}', 900);
      // The server's own registry, from before it recorded times (heard null: `updated` stands in).
      old
        .prepare(
          "INSERT INTO partner_manifests (farm, text, manifest, registry, heard, updated, by) VALUES (?, '', '{}', ?, NULL, 2000, 'p')",
        )
        .run(FARM, JSON.stringify(registry({ 'soil-1': 'a1', 'wx-1': 'w9' })));
      migratePartner(old);
      const rows = old
        .prepare('SELECT device, hash, first FROM partner_key_history WHERE farm = ? ORDER BY device, first')
        .all(FARM);
      expect(rows).toEqual([
        { device: 'soil-1', hash: h('a1'), first: 900 },
        { device: 'wx-1', hash: h('w1'), first: 700 },
        { device: 'wx-1', hash: h('w9'), first: 2000 },
      ]);
    } finally {
      old.close();
    }
  });

  it('takes a key rotated on the farm after the server’s, whatever the farm’s clock says', async () => {
    sync('gw-a', registry({ 'soil-1': 'a1', 'wx-1': 'w1' }), 1000);
    const first = await provisionAt(2000);
    // The gateway applied what was sent down, then `hatake kit provision --device soil-1` ran
    // beside it (its rotatedAt from a clock years behind).
    const applied = hashes(first.sent);
    sync(
      'gw-a',
      {
        ...first.sent,
        devices: first.sent.devices.map((d) =>
          d.id === 'soil-1' ? { ...d, secretHash: h('a2'), rotatedAt: '2001-01-01T00:00:00.000Z' } : d,
        ),
      },
      5000,
    );
    const again = await provisionAt(6000);
    expect(again.issued).toEqual([]);
    expect(hashes(again.sent)).toEqual({ ...applied, 'soil-1': h('a2') });
  });

  it('counts no revoked gateway and no other farm’s registry; a resent registry changes no time', () => {
    sync('gw-a', registry({ 'soil-1': 'a1' }), 1000);
    sync('gw-b', registry({ 'soil-1': 'b1' }), 2000);
    expect(hashes(knownKeys(db, FARM).registry)['soil-1']).toBe(h('b1'));
    db.prepare("UPDATE gateways SET revoked = 1 WHERE id = 'gw-b'").run();
    expect(hashes(knownKeys(db, FARM).registry)['soil-1']).toBe(h('a1'));
    applyGatewayRegistries(db, gw('gw-other', 'other-farm'), 3000, [
      { ...registry({ 'soil-1': 'x' }), farm: 'other-farm' },
    ]);
    expect(hashes(knownKeys(db, FARM).registry)['soil-1']).toBe(h('a1'));
    // gw-a resends the same registry much later: soil-1's key is as old as it was.
    sync('gw-a', registry({ 'soil-1': 'a1' }), 9000);
    expect(knownKeys(db, FARM).heard['soil-1']).toBe(1000);
  });

  it('carries the providers the gateways have, not a stale copy of the server’s', async () => {
    const provider = { id: 'sat-1', secretHash: h('p1'), scopes: ['imagery' as const] };
    sync('gw-a', registry({ 'soil-1': 'a1' }, [provider]), 1000);
    const first = await provisionAt(2000);
    expect(first.sent.providers).toEqual([provider]);
    sync('gw-a', registry({ 'soil-1': 'a1' }), 3000); // removed on the farm
    expect(knownKeys(db, FARM).registry!.providers).toBeUndefined();
  });

  it('previews the keys: kept, new, and the devices heard from that a new key would cut off', () => {
    sync('gw-a', registry({ 'soil-1': 'a1', 'old-1': 'o1' }), 1000);
    db.prepare("INSERT INTO farms (id, name) VALUES (?, 'x')").run(FARM);
    const seen = db.prepare('INSERT INTO devices (farm, id, last_seen, online) VALUES (?, ?, ?, ?)');
    seen.run(FARM, 'soil-1', 1500, 1);
    seen.run(FARM, 'wx-1', 1600, null);
    seen.run(FARM, 'soil-2', null, null);
    const manifest: Manifest = {
      farm: { id: FARM, name: 'x' },
      fields: [],
      devices: [
        { id: 'soil-1', kit: 'hatake-soil-probe' },
        { id: 'wx-1', kit: 'hatake-weather-station' },
        { id: 'soil-2', kit: 'hatake-soil-probe' },
        { id: 'lse-1', kit: 'dragino-lse01', devEui: 'a840414a71835f9d' },
      ],
    } as Manifest;
    const p = keyPreview(db, FARM, manifest, catalogue);
    expect(p.devices.map((d) => [d.id, d.key, d.from, d.lastSeen, d.online])).toEqual([
      ['soil-1', 'keep', 'gateway', new Date(1500).toISOString(), true],
      ['wx-1', 'new', null, new Date(1600).toISOString(), null],
      ['soil-2', 'new', null, null, null],
      ['lse-1', 'none', null, null, null],
    ]);
    expect(p.atRisk).toEqual(['wx-1']);
    expect(p.removed).toEqual(['old-1']);
    expect(p.gatewayRegistry).toBe(new Date(1000).toISOString());
  });
});
