// What browser provisioning stores and what it needs, against the real server and gateway: a
// manifest whose boundaries are GeoJSON files uploaded beside it is stored with those boundaries
// written inline (one line each, so every line keeps its number), and the text read back checks
// and provisions again without the files — also a text stored before (inlined when read). The
// broker address is needed only to write a device config: provisioning that issues no secret
// (every key kept) goes through without it; one that issues a secret is refused at /broker/host.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/manifest.ts';
import type { ManifestCheckResult, ProvisionResult, StoredManifest } from '../../protocol/views.ts';
import { DEMO_MANIFEST_FILE, eventually, signIn, startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
let partner: Awaited<ReturnType<typeof signIn>>;
const TEXT = readFileSync(DEMO_MANIFEST_FILE, 'utf8');

const post = (path: string, body: unknown) =>
  partner(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const check = async (text: string, files?: Record<string, string>) =>
  (await (
    await post('/api/v1/farms/demo-farm/manifest/check', { text, files })
  ).json()) as ManifestCheckResult;
const stored = async () =>
  (await (await partner('/api/v1/farms/demo-farm/manifest')).json()) as StoredManifest;

const PADDY = [
  [
    [138.9, 37.8],
    [138.9012, 37.8],
    [138.9012, 37.8003],
    [138.9, 37.8003],
    [138.9, 37.8],
  ],
];
const UPLAND = [
  [
    [138.902, 37.8],
    [138.9035, 37.8],
    [138.9035, 37.801],
    [138.902, 37.801],
    [138.902, 37.8],
  ],
];
/** The demo manifest with both boundaries given by file: one plain, one quoted with a comment. */
const BY_FILE = TEXT.replace(
  /( {4})boundary:\n {6}type: Polygon\n {6}coordinates: \[\[\[138\.9000.*\n/,
  '$1boundary: "paddy-1.geojson"   # drawn by the partner\n',
).replace(
  /( {4})boundary:\n {6}type: Polygon\n {6}coordinates: \[\[\[138\.9020.*\n/,
  '$1boundary: upland-1.geojson\n',
);
const FILES = {
  'paddy-1.geojson': JSON.stringify({ type: 'Polygon', coordinates: PADDY }),
  // A MAFF-style FeatureCollection with one feature.
  'upland-1.geojson': JSON.stringify({
    type: 'FeatureCollection',
    features: [
      { type: 'Feature', properties: { fude: 1 }, geometry: { type: 'Polygon', coordinates: UPLAND } },
    ],
  }),
};

beforeAll(async () => {
  stack = await startStack();
  partner = await signIn(stack.httpUrl, 'demo-partner');
  // The stack's gateway has synced its registry: the demo manifest's devices keep their keys.
  await eventually(async () => (await check(TEXT)).keys?.devices.every((d) => d.key === 'keep'), 15_000);
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('the broker address', () => {
  it('is not needed when no device gets a secret; is asked for at /broker/host when one does', async () => {
    expect(TEXT).not.toMatch(/^broker:/m);
    const kept = await post('/api/v1/farms/demo-farm/provision', { text: TEXT });
    expect(kept.status).toBe(200);
    const result = (await kept.json()) as ProvisionResult;
    expect(result.issued).toEqual([]);
    expect(result.devices.every((d) => d.files === null)).toBe(true);

    const withNew = `${TEXT.trimEnd()}\n  - { id: soil-9, kit: hatake-soil-probe, field: upland-1 }\n`;
    const refused = await post('/api/v1/farms/demo-farm/provision', { text: withNew });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: 'HATAKE_E_CONFIG', pointer: '/broker/host' });
    const rotate = await post('/api/v1/farms/demo-farm/provision', { text: TEXT, rotate: 'soil-1' });
    expect(rotate.status).toBe(400);
    // Nothing was provisioned by the refusals: soil-9 is not in the registry sent down.
    expect((await check(TEXT)).keys!.devices.map((d) => d.key)).toEqual(['keep', 'keep', 'keep']);
    // The check says whether the manifest names the gateway itself (the page asks only then).
    const planNew = (await check(withNew)).keys!;
    expect(planNew.brokerHost).toBeNull();
    expect(planNew.devices.find((d) => d.id === 'soil-9')?.key).toBe('new');
    const named = withNew.replace(/^farm:/m, 'broker: { host: gw.local, port: 1883 }\nfarm:');
    expect(named).not.toBe(withNew);
    expect((await check(named)).keys!.brokerHost).toBe('gw.local');
  });
});

describe('boundaries uploaded as files', () => {
  it('are stored inline, so the manifest read back checks and provisions again without the files', async () => {
    expect(BY_FILE).toContain('boundary: upland-1.geojson\n');
    expect(BY_FILE).toContain('boundary: "paddy-1.geojson"   # drawn by the partner\n');
    expect((await check(BY_FILE)).ok).toBe(false); // the files are needed to read it
    expect((await check(BY_FILE, FILES)).ok).toBe(true);
    const broker = { host: '127.0.0.1' };
    const res = await post('/api/v1/farms/demo-farm/provision', { text: BY_FILE, files: FILES, broker });
    expect(res.status).toBe(200);

    const back = await stored();
    expect(back.source).toBe('provisioned');
    // Every line where it was: only the two boundary lines changed.
    const before = BY_FILE.split('\n');
    const after = back.text.split('\n');
    expect(after.length).toBe(before.length);
    const changed = after.flatMap((l, i) => (l === before[i] ? [] : [l]));
    expect(changed).toEqual([
      `    boundary: ${JSON.stringify({ type: 'Polygon', coordinates: PADDY })}   # drawn by the partner`,
      `    boundary: ${JSON.stringify({ type: 'Polygon', coordinates: UPLAND })} # upland-1.geojson`,
    ]);
    // Checked and provisioned again as the partner would re-edit it: no file needed.
    const again = await check(back.text);
    expect(again.problems).toEqual([]);
    expect(again.ok).toBe(true);
    const reprovision = await post('/api/v1/farms/demo-farm/provision', { text: back.text, broker });
    expect(reprovision.status).toBe(200);
    const sent = stack.server!.ctx.downlink.get('demo-farm', 'manifest', 'manifest')!.body as Manifest;
    expect(sent.fields.map((f) => f.boundary)).toEqual([
      { type: 'Polygon', coordinates: PADDY },
      { type: 'Polygon', coordinates: UPLAND },
    ]);
  });

  it('are inlined when a text stored before (with the file names) is read', async () => {
    stack
      .server!.ctx.db.prepare("UPDATE partner_manifests SET text = ? WHERE farm = 'demo-farm'")
      .run(BY_FILE);
    const back = await stored();
    expect(back.text).not.toContain('boundary: upland-1.geojson');
    expect(back.text).toContain('# upland-1.geojson');
    expect((await check(back.text)).ok).toBe(true);
  });
});
