// Every file loader on hostile input — real files cut, flipped, spliced with hostile strings and
// mutated node by node, plus YAML that attacks the parser: the farm manifest, field GeoJSON, model
// cards, crop profiles, trial CSV, kit files, the gateway's and the server's config files, the
// device registry, management zones, recommendation documents, user sensor profiles and --bands
// maps, and scene metadata (STAC items). Each must return its value or a coded HatakeError (a
// registered code, a bounded message) within a bounded time — never a TypeError, a stack overflow
// or a hang — and a registry that breaks while the gateway runs leaves the last good one in force.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkManifest, loadManifest } from '../../firmware-config/manifest-check.ts';
import {
  loadCatalogue,
  checkKitFile,
  parseKitFile,
  BUILTIN_KITS_DIR,
} from '../../firmware-config/catalogue.ts';
import { parseFields, placeFields } from '../../edge/imagery/fields.ts';
import { RasterFile, type Grid } from '../../edge/imagery/raster-file.ts';
import { crsOf } from '../../edge/imagery/crs.ts';
import { parseCard, parseProfile } from '../../edge/inference/registry.ts';
import { readTrials } from '../../models/train/trials.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { loadServerConfig } from '../../dashboard/config.ts';
import { DeviceRegistry, readRegistryFile } from '../../gateway/registry.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { provisionRegistry } from '../../firmware-config/provision.ts';
import { ARTIFACTS_DIR, PROFILES_DIR } from '../../models/paths.ts';
import { readZones } from '../../edge/recommend/zones.ts';
import { prescriptionRows, readRecommendation } from '../../edge/prescriptions/rows.ts';
import { PROFILES, parseBandMap, parseProfileText } from '../../edge/imagery/profiles.ts';
import { discoverMetadata, fromStacItem, type SceneMetadata } from '../../edge/imagery/scene-metadata.ts';
import { BAND_ROLES, SensorProfile } from '../../protocol/imagery.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { validator } from '../../protocol/validate.ts';
import { DEMO_MANIFEST_FILE, demoManifest, quietLog } from '../helpers/stack.ts';
import { demoRecommendation, demoZones } from '../helpers/recommendation.ts';
import {
  checkCoded,
  deepJsonValue,
  expectCodedOrOk,
  expectCodedOrOkAsync,
  fcParams,
  hostileBodyText,
  hostileJsonValue,
  hostileString,
  hostileYamlText,
  mutateJson,
  mutateText,
  pollutingObject,
  spliceDeepText,
} from '../helpers/hostile-values.ts';

const DATA = join(import.meta.dirname, '../../../shared/data');
const EXAMPLES = join(import.meta.dirname, '../../docs/examples');
const read = (f: string) => readFileSync(f, 'utf8');
let dir: string;
let n = 0;
/** Writes a case to its own file (loaders that take a path). */
const fileWith = (text: string, name: string) => {
  const f = join(dir, `${n++}-${name}`);
  writeFileSync(f, text);
  return f;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-loaders-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** YAML attacks except alias abuse (bombs, unresolved aliases): their own test below, a reported bug. */
const isAliasAbuse = (t: string) => t.includes('&a [') || t.includes('*missing');
const yamlAttack = () => hostileYamlText().filter((t) => !isAliasAbuse(t));
/** A text loader's inputs: the real file mutated, JSON-level mutations, or parser attacks. */
const textCases = (base: string, structured?: unknown) =>
  fc.oneof(
    { weight: 4, arbitrary: mutateText(base) },
    ...(structured !== undefined
      ? [{ weight: 3, arbitrary: mutateJson(structured).map((v) => JSON.stringify(v, null, 1) ?? 'null') }]
      : []),
    { weight: 1, arbitrary: yamlAttack() },
  );

describe('the farm manifest', () => {
  const catalogue = loadCatalogue();
  const text = read(DEMO_MANIFEST_FILE);

  /** A huge time zone: checked quadratically slowly (reported; pinned by its own test below). */
  const hugeTimezone = (t: string) => /timezone[^\n]{1000,}/.test(t);

  it('checkManifest lists coded, placed problems — never throws — for any text', () => {
    fc.assert(
      fc.property(textCases(text, demoManifest()), (t) => {
        fc.pre(!hugeTimezone(t));
        const out = expectCodedOrOk(() => checkManifest('manifest.yaml', t, { catalogue }), 'checkManifest');
        if (!out.ok) return; // it threw a coded error: allowed, though it returns problems normally
        expect(out.value.manifest === undefined).toBe(out.value.problems.length > 0);
        for (const p of out.value.problems) {
          checkCoded(p, 'manifest problem');
          // Placed: at a line (and column) of the file, or — for a document that cannot be read at all — the file.
          expect(p.place?.line ?? (p.place?.file ? 1 : 0), p.describe()).toBeGreaterThanOrEqual(1);
        }
      }),
      fcParams(300),
    );
  });

  it('loadManifest (the gateway’s start) gives a manifest or a coded error', () => {
    fc.assert(
      fc.property(textCases(text, demoManifest()), (t) => {
        fc.pre(!hugeTimezone(t));
        const f = fileWith(t, 'manifest.yaml');
        expectCodedOrOk(() => loadManifest(f, { catalogue }), 'loadManifest');
      }),
      fcParams(60),
    );
  });
});

describe('a farm manifest with a 150 kB time zone', () => {
  it('is checked at once (the zone is refused by its length, not fed to Intl)', () => {
    const m = demoManifest() as unknown as { farm: { timezone: string } };
    m.farm.timezone = 'A'.repeat(150_000);
    const out = expectCodedOrOk(
      () => checkManifest('manifest.yaml', JSON.stringify(m), { catalogue: loadCatalogue() }),
      'checkManifest',
      60_000,
    );
    expect(out.ok && out.value.problems.some((p) => p.place?.pointer === '/farm/timezone')).toBe(true);
    expect(Math.round(out.ms), 'milliseconds to check').toBeLessThan(500);
  }, 90_000);
});

describe('field boundaries (GeoJSON)', () => {
  const real = JSON.parse(read(join(DATA, 'fields/jp-fude/jp_field_polygons_2024_sample.geojson'))) as {
    type: string;
    features: unknown[];
  };
  const small = { ...real, features: real.features.slice(0, 3) };
  // The Sapporo fields' neighbourhood on a UTM 54N grid at 10 m, as a Sentinel-2 tile would have it.
  const grid: Grid = {
    width: 400,
    height: 400,
    x0: 520_000,
    y0: 4_780_000,
    dx: 10,
    dy: 10,
    crs: crsOf(32654, 'grid'),
  };

  it('parseFields and placeFields answer fields or HATAKE_E_FIELDS for any text', () => {
    fc.assert(
      fc.property(textCases(JSON.stringify(small), small), (t) => {
        const out = expectCodedOrOk(() => parseFields(t, 'fields.geojson'), 'parseFields');
        if (!out.ok) {
          expect(out.error.code).toBe('HATAKE_E_FIELDS');
          return;
        }
        const placed = expectCodedOrOk(() => placeFields(out.value, grid, 'fields.geojson'), 'placeFields');
        if (!placed.ok) expect(placed.error.code).toMatch(/^HATAKE_E_(FIELDS|IMAGERY_CRS)$/);
      }),
      fcParams(300),
    );
  });
});

describe('model cards and crop profiles', () => {
  const cardText = read(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.card.json'));
  const profileText = read(join(PROFILES_DIR, 'rice-koshihikari.yaml'));

  it('parseCard answers a card or HATAKE_E_MODEL_CARD for any text', () => {
    fc.assert(
      fc.property(textCases(cardText, JSON.parse(cardText)), (t) => {
        const out = expectCodedOrOk(() => parseCard(t, 'x.card.json'), 'parseCard');
        if (!out.ok) expect(out.error.code).toBe('HATAKE_E_MODEL_CARD');
      }),
      fcParams(300),
    );
  });

  it('parseProfile answers a profile or a coded error for any text', () => {
    fc.assert(
      fc.property(textCases(profileText), (t) => {
        const out = expectCodedOrOk(() => parseProfile(t, 'x.yaml'), 'parseProfile');
        if (!out.ok) expect(out.error.code).toMatch(/^HATAKE_E_(MODEL_CARD|CONFIG)$/);
      }),
      fcParams(200),
    );
  });
});

describe('trial CSV', () => {
  const csv = read(join(DATA, 'agronomy/agridat/lasrosas.corn.csv')).split('\n').slice(0, 120).join('\n');
  const cols = fc.constantFrom<[string, string[]]>(
    ['yield', ['nitro', 'topo', 'bv']],
    ['yield', ['nitro']],
    ['nitro', ['yield', 'rep']],
    ['yield', ['__proto__']],
    ['constructor', ['nitro']],
  );

  it('readTrials answers trials or HATAKE_E_TRIALS for any text and columns', () => {
    const csvCases = fc.oneof(
      { weight: 4, arbitrary: mutateText(csv) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '"unterminated\n1,2',
          'yield,nitro\n' + '1,2\n'.repeat(10) + '1,2,3\n',
          'yield,yield\n1,2\n',
          '\ufeffyield,nitro\n1,NaN\n2,Infinity\n',
          'yield,nitro\n' + Array.from({ length: 100 }, (_, i) => `${i},level${i}`).join('\n'),
          'yield,nitro,__proto__\n1,2,x\n3,4,y\n',
        ),
      },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
    );
    fc.assert(
      fc.property(csvCases, cols, (t, [target, features]) => {
        const out = expectCodedOrOk(() => readTrials(t, 'trials.csv', target, features), 'readTrials');
        if (!out.ok) expect(out.error.code).toBe('HATAKE_E_TRIALS');
        else {
          expect(out.value.X.length).toBe(out.value.y.length);
          expect(out.value.y.every(Number.isFinite)).toBe(true);
          expect(out.value.X.flat().every(Number.isFinite)).toBe(true);
        }
      }),
      fcParams(250),
    );
  });
});

describe('kit files', () => {
  const kits = ['hatake-soil-probe.yaml', 'dragino-lse01.yaml', 'hatake-water-gate.yaml'].map((k) =>
    read(join(BUILTIN_KITS_DIR, k)),
  );

  it('checkKitFile lists coded problems and parseKitFile throws only coded errors, for any text', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...kits).chain((k) => textCases(k)),
        (t) => {
          const out = expectCodedOrOk(() => checkKitFile('kit.yaml', t), 'checkKitFile');
          if (out.ok) for (const p of out.value.problems) checkCoded(p, 'kit problem');
          expectCodedOrOk(() => parseKitFile('kit.yaml', t), 'parseKitFile');
        },
      ),
      fcParams(250),
    );
  });
});

describe('config files', () => {
  const gatewayYaml = read(join(EXAMPLES, 'gateway.yaml'));
  const serverYaml = read(join(EXAMPLES, 'server.yaml'));

  it('loadGatewayConfig answers a config or HATAKE_E_CONFIG for any file', () => {
    // The example's token and key files, beside each case's file.
    const base = gatewayYaml
      .replace('../../data/gateway/token', 'gw-token')
      .replace('../../data/gateway/server-key.pem', 'gw-key.pem');
    writeFileSync(join(dir, 'gw-token'), 'hgw_example');
    writeFileSync(join(dir, 'gw-key.pem'), 'not checked here');
    fc.assert(
      fc.property(textCases(base), (t) => {
        const f = fileWith(t, 'gateway.yaml');
        try {
          loadGatewayConfig(f);
        } catch (e) {
          // A token or key file that does not exist escapes uncoded: reported, pinned by its own test.
          if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !(e instanceof HatakeError)) return;
        }
        const out = expectCodedOrOk(() => loadGatewayConfig(f), 'loadGatewayConfig');
        if (!out.ok) expect(out.error.code).toBe('HATAKE_E_CONFIG');
      }),
      fcParams(200),
    );
  });

  it('loadServerConfig answers a config or HATAKE_E_CONFIG for any file', () => {
    fc.assert(
      fc.property(textCases(serverYaml), (t) => {
        const out = expectCodedOrOk(() => loadServerConfig(fileWith(t, 'server.yaml')), 'loadServerConfig');
        if (!out.ok) expect(out.error.code).toBe('HATAKE_E_CONFIG');
      }),
      fcParams(200),
    );
  });

  it('refuses YAML alias abuse (a bomb, an unresolved alias) with HATAKE_E_CONFIG in every YAML loader', () => {
    const [bomb] = fc.sample(
      hostileYamlText().filter((t) => t.includes('&a [')),
      { numRuns: 1, seed: 1 },
    );
    const uncoded: string[] = [];
    for (const [abuse, text] of [
      ['alias bomb', bomb!],
      ['unresolved alias', '<<: *missing\n'],
    ] as const) {
      const loaders: Array<[string, () => unknown]> = [
        ['gateway config', () => loadGatewayConfig(fileWith(text, 'gateway.yaml'))],
        ['server config', () => loadServerConfig(fileWith(text, 'server.yaml'))],
        ['crop profile', () => parseProfile(text, 'profile.yaml')],
        ['kit file', () => parseKitFile('kit.yaml', text)],
        ['manifest', () => loadManifest(fileWith(text, 'manifest.yaml'), { catalogue: loadCatalogue() })],
      ];
      for (const [what, load] of loaders) {
        try {
          load();
          uncoded.push(`${abuse} → ${what}: accepted`);
        } catch (e) {
          try {
            checkCoded(e, `${abuse} → ${what}`);
          } catch (why) {
            uncoded.push((why as Error).message.split('\n')[0]!);
          }
        }
      }
    }
    expect(uncoded).toEqual([]);
  });

  it('names a missing tokenFile or publicKeyFile of the gateway config with HATAKE_E_CONFIG', () => {
    const uncoded: string[] = [];
    for (const key of ['tokenFile', 'publicKeyFile']) {
      const text = `id: gw-1\ndataDir: data\nmanifest: m.yaml\nregistry: r.json\nserver:\n  url: https://h.example\n  ${key === 'tokenFile' ? 'tokenFile: no-such-token' : 'token: hgw_0123456789abcdef\n  publicKeyFile: no-such-key.pem'}\n`;
      try {
        loadGatewayConfig(fileWith(text, 'gateway.yaml'));
        uncoded.push(`${key}: accepted`);
      } catch (e) {
        try {
          checkCoded(e, key);
        } catch (why) {
          uncoded.push((why as Error).message.split('\n')[0]!);
        }
      }
    }
    expect(uncoded).toEqual([]);
  });
});

describe('error messages', () => {
  it('stay short when the input holds a 300 kB key: the input is not echoed back', () => {
    const key = 'K'.repeat(300_000);
    const card = JSON.parse(read(join(ARTIFACTS_DIR, 'osu-sbnrc@1.0.0.card.json'))) as Record<
      string,
      unknown
    >;
    const { registry } = provisionRegistry(demoManifest());
    const catalogue = loadCatalogue();
    const cases: Array<[string, () => unknown]> = [
      ['model card', () => parseCard(JSON.stringify({ ...card, [key]: 1 }), 'x.card.json')],
      [
        'registry',
        () => readRegistryFile(fileWith(JSON.stringify({ ...registry, [key]: 1 }), 'registry.json')),
      ],
      [
        'manifest',
        () =>
          loadManifest(fileWith(`${read(DEMO_MANIFEST_FILE)}\n${key}: 1\n`, 'manifest.yaml'), { catalogue }),
      ],
      [
        'crop profile',
        () => parseProfile(`${read(join(PROFILES_DIR, 'rice-koshihikari.yaml'))}\n${key}: 1\n`, 'p.yaml'),
      ],
      [
        'kit file',
        () =>
          parseKitFile('kit.yaml', `${read(join(BUILTIN_KITS_DIR, 'hatake-soil-probe.yaml'))}\n${key}: 1\n`),
      ],
      [
        'fields',
        () =>
          parseFields(
            JSON.stringify({
              type: 'FeatureCollection',
              features: [
                { type: 'Feature', properties: { id: 'a' }, geometry: { type: key, coordinates: [] } },
              ],
            }),
            'f.geojson',
          ),
      ],
    ];
    const long: string[] = [];
    for (const [what, load] of cases) {
      try {
        load();
        long.push(`${what}: accepted a 300 kB unknown key`);
      } catch (e) {
        const err = checkCoded(e, what);
        if (err.describe().length > 2_000)
          long.push(`${what}: ${err.code} message of ${err.describe().length} characters`);
      }
    }
    expect(long).toEqual([]);
  });
});

describe('the device registry', () => {
  const manifest = demoManifest();
  const { registry } = provisionRegistry(manifest);

  it('readRegistryFile answers a registry or HATAKE_E_CONFIG for any file', () => {
    fc.assert(
      fc.property(textCases(JSON.stringify(registry), registry), (t) => {
        const out = expectCodedOrOk(() => readRegistryFile(fileWith(t, 'registry.json')), 'readRegistryFile');
        if (!out.ok) expect(out.error.code).toBe('HATAKE_E_CONFIG');
      }),
      fcParams(250),
    );
  });

  it('keeps the last good registry in force when the file turns hostile while running', () => {
    const file = fileWith(JSON.stringify(registry), 'live-registry.json');
    const live = new DeviceRegistry(file, quietLog());
    const good = JSON.stringify(live.ids());
    fc.assert(
      fc.property(textCases(JSON.stringify(registry), registry), (t) => {
        writeFileSync(file, t);
        const reloaded = live.reload();
        if (!reloaded) expect(JSON.stringify(live.ids())).toBe(good);
        // Restore; a hostile-but-valid registry was allowed to replace it.
        writeFileSync(file, JSON.stringify(registry));
        expect(live.reload()).toBe(true);
        expect(JSON.stringify(live.ids())).toBe(good);
      }),
      fcParams(100),
    );
    live.close();
  });
});

describe('GeoTIFF headers of real Sentinel-2 files', () => {
  const files = [
    join(
      DATA,
      'sentinel2/bigearthnet/S2A_MSIL2A_20170617T113321_36_85/S2A_MSIL2A_20170617T113321_36_85_B04.tif',
    ),
    join(DATA, 'sentinel2/s2-29RKH-20200219-l2a-100m/SCL.tif'),
    join(DATA, 'sentinel2/s2-29RKH-20200219-l2a-100m/B04.tif'),
  ].map((f) => {
    const bytes = readFileSync(f);
    return { name: f.split('/').pop()!, bytes, counts: ifdCountBytes(bytes) };
  });
  const HEADER = 4096;

  /** A real file with its header damaged: bits flipped, bytes overwritten, or cut short. */
  const damaged = fc.constantFrom(...files).chain((f) =>
    fc
      .oneof(
        fc
          .array(
            fc.tuple(fc.nat({ max: Math.min(HEADER, f.bytes.length) - 1 }), fc.integer({ min: 0, max: 7 })),
            {
              minLength: 1,
              maxLength: 8,
            },
          )
          .map((flips) => {
            const b = Buffer.from(f.bytes);
            for (const [i, bit] of flips) if (!f.counts.has(i)) b[i]! ^= 1 << bit;
            return b;
          }),
        fc
          .tuple(
            fc.nat({ max: Math.min(HEADER, f.bytes.length) - 4 }),
            fc.constantFrom(0x00, 0xff, 0x7f, 0x80),
            fc.integer({ min: 1, max: 4 }),
          )
          .map(([i, v, len]) => {
            const b = Buffer.from(f.bytes);
            for (let k = i; k < i + len; k++) if (!f.counts.has(k)) b[k] = v;
            return b;
          }),
        fc.nat({ max: f.bytes.length - 1 }).map((cut) => f.bytes.subarray(0, cut)),
        fc.nat({ max: Math.min(HEADER, f.bytes.length) }).map((cut) => f.bytes.subarray(0, cut)),
      )
      .map((b) => ({ name: f.name, bytes: b })),
  );

  it('opens and reads a window, or refuses with an imagery code — within 3 s per file', async () => {
    const codes = new Set<string>();
    await fc.assert(
      fc.asyncProperty(damaged, async ({ name, bytes }) => {
        const path = join(dir, `${n++}-${name}`);
        writeFileSync(path, bytes);
        const out = await expectCodedOrOkAsync(async () => {
          const r = await RasterFile.open(path);
          try {
            const w = Math.min(16, r.grid.width);
            const h = Math.min(16, r.grid.height);
            return await r.readWindow(1, [0, 0, w, h]);
          } finally {
            await r.close();
          }
        }, `RasterFile ${name}`);
        if (!out.ok) {
          codes.add(out.error.code);
          expect(out.error.code).toMatch(/^HATAKE_E_IMAGERY_(FILE|CRS|GRID|BANDS)$/);
          expect(out.error.place?.file).toBe(path);
        }
        rmSync(path);
      }),
      fcParams(120),
    );
    expect(codes.has('HATAKE_E_IMAGERY_FILE')).toBe(true);
  }, 120_000);

  it('refuses more bands (SamplesPerPixel) than BitsPerSample describes, on open and with its file', async () => {
    // Found by the property above (a clean-clone run, seed -214200762): SamplesPerPixel 1 → 3 in
    // a real one-band file opened as three bands, and reading band 2 threw geotiff's uncoded
    // "Unsupported data format/bitsPerSample".
    const f = files.find((x) => x.name.endsWith('_B04.tif'))!;
    const b = Buffer.from(f.bytes);
    const ifd = b.readUInt32LE(4);
    let patched = false;
    for (let i = 0; i < b.readUInt16LE(ifd); i++) {
      const e = ifd + 2 + i * 12;
      if (b.readUInt16LE(e) === 277 /* SamplesPerPixel */) {
        expect(b.readUInt16LE(e + 8)).toBe(1);
        b.writeUInt16LE(3, e + 8);
        patched = true;
      }
    }
    expect(patched).toBe(true);
    const path = join(dir, `${n++}-spp3.tif`);
    writeFileSync(path, b);
    const err = await RasterFile.open(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: 'HATAKE_E_IMAGERY_FILE',
      place: { file: path },
      message: expect.stringContaining('SamplesPerPixel is 3 but BitsPerSample has 1 value'),
    });
  });

  it('refuses a header whose IFD declares more values than the file holds, at once and in bounded memory', async () => {
    // BitsPerSample (258) or SampleFormat (339) said to hold 67 million values in an 8 kB file.
    const slow: string[] = [];
    for (const tag of [258, 339]) {
      const f = files.find((x) => x.name === 'SCL.tif')!;
      const b = Buffer.from(f.bytes);
      const ifd = b.readUInt32LE(4);
      for (let i = 0; i < b.readUInt16LE(ifd); i++) {
        const e = ifd + 2 + i * 12;
        if (b.readUInt16LE(e) === tag) b.writeUInt32LE(0x04000001, e + 4);
      }
      const path = join(dir, `${n++}-count-${tag}.tif`);
      writeFileSync(path, b);
      const t0 = performance.now();
      const out = await expectCodedOrOkAsync(
        () => RasterFile.open(path).then((r) => r.close()),
        `tag ${tag}`,
        20_000,
      );
      const ms = performance.now() - t0;
      expect(out.ok, `tag ${tag}`).toBe(false);
      if (ms > 1_000) slow.push(`tag ${tag}: ${Math.round(ms)} ms before refusing`);
    }
    expect(slow).toEqual([]);
  }, 60_000);
});

/** Offsets of the 4-byte `count` field of every entry of every IFD of a little-endian TIFF. */
function ifdCountBytes(b: Buffer): Set<number> {
  const out = new Set<number>();
  if (b.toString('latin1', 0, 2) !== 'II') return out;
  let ifd = b.readUInt32LE(4);
  for (let guard = 0; ifd > 0 && ifd + 2 <= b.length && guard < 64; guard++) {
    const entries = b.readUInt16LE(ifd);
    for (let i = 0; i < entries && ifd + 2 + i * 12 + 12 <= b.length; i++)
      for (let k = 4; k < 8; k++) out.add(ifd + 2 + i * 12 + k);
    const next = ifd + 2 + entries * 12;
    ifd = next + 4 <= b.length ? b.readUInt32LE(next) : 0;
  }
  return out;
}

/**
 * A JSON loader's inputs (it takes parsed JSON): the real document mutated node by node, its text
 * mutated and parsed again (or left a string when it no longer parses), hostile values and bodies,
 * a node replaced by a value nested thousands deep, and `extra` (oversized documents).
 */
const jsonCases = (base: unknown, extra: readonly unknown[] = []) => {
  const parsedOrText = (t: string): unknown => {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return t;
    }
  };
  return fc.oneof(
    { weight: 5, arbitrary: mutateJson(base) },
    { weight: 3, arbitrary: mutateText(JSON.stringify(base)).map(parsedOrText) },
    { weight: 1, arbitrary: hostileJsonValue() },
    { weight: 1, arbitrary: hostileBodyText().map(parsedOrText) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.nat(), fc.integer({ min: 1_000, max: 20_000 }))
        .map(([k, d]) => parsedOrText(spliceDeepText(base, k, d))),
    },
    ...(extra.length ? [{ weight: 1, arbitrary: fc.constantFrom(...extra) }] : []),
  );
};

describe('management zones (readZones)', () => {
  const base = demoZones();
  const feature = base.features[0]!;
  const ringOf = (n: number) => {
    const r = Array.from({ length: n }, (_, i) => [
      138.9 + 0.001 * Math.cos((2 * Math.PI * i) / n),
      37.8 + 0.001 * Math.sin((2 * Math.PI * i) / n),
    ]);
    r.push(r[0]!);
    return r;
  };
  const manyFeatures = (n: number) => ({
    ...base,
    features: Array.from({ length: n }, (_, k) => ({
      ...feature,
      id: `z${k}`,
      properties: { ...feature.properties, zone: (k % 10_000) + 1 },
    })),
  });
  const oversized = [
    manyFeatures(10_001), // one more than the schema's maxItems
    manyFeatures(2_000),
    { ...base, features: [{ ...feature, geometry: { type: 'Polygon', coordinates: [ringOf(100_000)] } }] },
    { ...base, features: [{ ...feature, id: 'Z'.repeat(300_000) }] },
    {
      ...base,
      features: [
        {
          ...feature,
          properties: { ...feature.properties, ...pollutingObject(), extra: deepJsonValue(5_000) },
        },
      ],
    },
    {
      ...base,
      features: [{ ...feature, properties: { ...feature.properties, areaHa: 1e308, zone: 2 ** 53 + 2 } }],
    },
  ];

  it('reads the demo zones as they are', () => {
    const z = readZones(base, 'zones.geojson');
    expect(z.zones.map((x) => x.id)).toEqual(['upland-1-z1', 'upland-1-z2', 'upland-1-z3']);
    expect(z.fieldId).toBe('upland-1');
  });

  it('answers normalised zones or HATAKE_E_PAYLOAD_SCHEMA for any document', () => {
    fc.assert(
      fc.property(jsonCases(base, oversized), (doc) => {
        const out = expectCodedOrOk(() => readZones(doc, 'zones.geojson'), 'readZones');
        if (!out.ok) {
          expect(out.error.code).toBe('HATAKE_E_PAYLOAD_SCHEMA');
          expect(out.error.describe().length).toBeLessThan(2_000);
          return;
        }
        const z = out.value;
        expect(z.geometry.length).toBe(z.zones.length);
        expect(new Set(z.zones.map((x) => x.id)).size).toBe(z.zones.length);
        for (const x of z.zones) {
          expect(x.acquired === null || Number.isFinite(x.acquired)).toBe(true);
          expect(x.areaHa).toBeGreaterThan(0);
        }
        for (const g of z.geometry) {
          expect(g.type).toBe('MultiPolygon');
          for (const ring of g.coordinates.flat()) {
            expect(ring[0]).toEqual(ring[ring.length - 1]);
            for (const [x, y] of ring) expect(Math.abs(x!) <= 180 && Math.abs(y!) <= 90).toBe(true);
          }
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      fcParams(300),
    );
  }, 60_000);
});

describe('recommendation documents (readRecommendation → prescription rows)', () => {
  let rec: Recommendation;
  beforeAll(async () => {
    rec = await demoRecommendation(Date.parse('2026-11-21T00:00:00Z'));
  }, 60_000);

  it('reads a real recommendation as it is', () => {
    expect(readRecommendation(JSON.parse(JSON.stringify(rec)) as unknown, 'rec.json').id).toBe(rec.id);
  });

  it('answers a recommendation or HATAKE_E_PRESCRIPTION, and rows or a coded refusal, for any document', () => {
    const zone = rec.zones[0]!;
    const oversized = [
      { ...rec, zones: Array.from({ length: 10_001 }, () => zone) },
      { ...rec, zones: [{ ...zone, outputs: { ...pollutingObject(1), n: 1e308 } }] },
      { ...rec, zones: [{ ...zone, rate: { ...zone.rate, kgNHa: Number.MAX_VALUE } }] },
      { ...rec, history: Array.from({ length: 1_001 }, () => rec.history[0]) },
      { ...rec, notes: [deepJsonValue(10_000)] },
      { ...rec, id: 'R'.repeat(300_000) },
      { ...rec, status: 'rejected' }, // read, but no prescription from it
      { ...rec, status: 'superseded' },
    ];
    fc.assert(
      fc.property(jsonCases(rec, oversized), (doc) => {
        const out = expectCodedOrOk(() => readRecommendation(doc, 'rec.json'), 'readRecommendation');
        if (!out.ok) {
          expect(out.error.code).toBe('HATAKE_E_PRESCRIPTION');
          expect(out.error.describe().length).toBeLessThan(2_000);
          return;
        }
        const rows = expectCodedOrOk(() => prescriptionRows(out.value), 'prescriptionRows');
        if (!rows.ok) {
          expect(rows.error.code).toBe('HATAKE_E_PRESCRIPTION');
          expect(['rejected', 'superseded']).toContain(out.value.status);
          return;
        }
        expect(rows.value.length).toBe(out.value.zones.length);
        for (const r of rows.value) expect(r.kgNHa >= 0 && r.productKgHa >= 0).toBe(true);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      fcParams(200),
    );
  }, 120_000);
});

describe('user sensor profiles and --bands', () => {
  const GOOD = `id: my-drone-4b
name: My drone, 4 bands
bands:
  green: { name: G, index: 1 }
  red: { name: R, index: 2 }
  rededge: { name: RE, index: 3, filePattern: "_RE\\\\.tif$" }
  nir: { name: NIR, index: 4 }
  scl: { name: SCL, index: 5 }
sclKeep: [4, 5]
scale: 0.0001
offset: 0
offsetRule: fixed
nodata: 65535
`;
  const isProfile = validator(SensorProfile);

  it('parseProfileText answers a profile or a placed HATAKE_E_CONFIG for any text', () => {
    const parsed = parseProfileText(GOOD, 'mine.yaml');
    expect(Object.keys(parsed.bands)).toHaveLength(5);
    const cases = fc.oneof(
      { weight: 4, arbitrary: mutateText(GOOD) },
      { weight: 3, arbitrary: mutateJson(parsed).map((v) => JSON.stringify(v, null, 1) ?? 'null') },
      // Alias bombs and unresolved aliases too: toData turns them into HATAKE_E_CONFIG.
      { weight: 1, arbitrary: hostileYamlText() },
      { weight: 1, arbitrary: hostileString() },
    );
    fc.assert(
      fc.property(cases, (t) => {
        const out = expectCodedOrOk(() => parseProfileText(t, 'mine.yaml'), 'parseProfileText');
        if (!out.ok) {
          expect(out.error.code).toBe('HATAKE_E_CONFIG');
          expect(out.error.place?.file).toBe('mine.yaml');
          expect(out.error.describe().length).toBeLessThan(2_000);
          return;
        }
        const p = out.value;
        expect(isProfile.check(p)).toBe(true);
        expect(PROFILES.some((b) => b.id === p.id)).toBe(false);
        expect(Object.keys(p.bands).length).toBeGreaterThan(0);
        if (p.bands.scl) expect(p.sclKeep).toBeDefined();
        if (p.offsetRule === 'fixed') expect(p.offset).toBeDefined();
        const indices = Object.values(p.bands).flatMap((b) => (b.index === undefined ? [] : [b.index]));
        expect(new Set(indices).size).toBe(indices.length);
      }),
      fcParams(300),
    );
  }, 60_000);

  it('parseBandMap answers role → band numbers or HATAKE_E_CONFIG for any text', () => {
    expect(parseBandMap(' red=3, nir=4 ,')).toEqual({ red: 3, nir: 4 });
    const role = fc.constantFrom(...BAND_ROLES, '__proto__', 'constructor', 'toString', 'RED', ' red', '');
    const num = fc.oneof(
      fc.integer({ min: -5, max: 20_000 }).map(String),
      fc.constantFrom('0', '01', '1e3', '0x10', '１', 'NaN', '', '99999', '9'.repeat(400)),
    );
    const cases = fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .array(fc.tuple(role, fc.constantFrom('=', '==', ':', ''), num), { maxLength: 9 })
          .map((parts) => parts.map(([r, eq, n]) => `${r}${eq}${n}`).join(',')),
      },
      { weight: 2, arbitrary: mutateText('red=3,nir=4,green=2') },
      { weight: 1, arbitrary: hostileString() },
      { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 200_000 }).map((k) => 'red=1,'.repeat(k)) },
    );
    fc.assert(
      fc.property(cases, (t) => {
        const out = expectCodedOrOk(() => parseBandMap(t), 'parseBandMap');
        if (!out.ok) {
          expect(out.error.code).toBe('HATAKE_E_CONFIG');
          expect(out.error.describe().length).toBeLessThan(2_000);
          return;
        }
        const m = out.value;
        expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
        for (const [k, v] of Object.entries(m)) {
          expect(BAND_ROLES as readonly string[]).toContain(k);
          expect(Number.isInteger(v) && v >= 1 && v <= 9_999).toBe(true);
        }
        // What came back is what was asked: written out again, it reads the same.
        const again = Object.entries(m)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        expect(parseBandMap(again)).toEqual(m);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      fcParams(300),
    );
  });
});

describe('scene metadata (STAC items)', () => {
  const file = join(DATA, 'sentinel2/s2-29RKH-20200219-l2a-100m/S2A_29RKH_20200219_0_L2A.json');
  const text = read(file);
  const full = JSON.parse(text) as { type: string; stac_version: string; id: string; properties: object };
  // The part fromStacItem reads, so most mutations land on it (the full item has 22 kB of assets).
  const item = { type: full.type, stac_version: full.stac_version, id: full.id, properties: full.properties };

  /** What a scene's metadata may hold: each field absent or of its type, acquisition time ISO UTC. */
  const checkScene = (m: SceneMetadata) => {
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    for (const k of ['id', 'processingBaseline', 'source'] as const)
      expect(m[k] === undefined || typeof m[k] === 'string').toBe(true);
    if (m.acquired !== undefined) {
      expect(m.acquired).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
      expect(Number.isNaN(Date.parse(m.acquired))).toBe(false);
    }
    expect(m.offsetApplied === undefined || typeof m.offsetApplied === 'boolean').toBe(true);
    expect([undefined, 'L2A', 'L1C']).toContain(m.level);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  };

  it('reads the real Earth Search item', () => {
    expect(fromStacItem(full)).toMatchObject({
      source: 'STAC item',
      id: 'S2A_29RKH_20200219_0_L2A',
      acquired: '2020-02-19T11:34:25.405Z',
      processingBaseline: '02.14',
      offsetApplied: false,
      level: 'L2A',
    });
  });

  it('fromStacItem answers well-typed metadata (or a coded error) for any value', () => {
    const oversized = [
      { ...item, properties: { ...full.properties, datetime: '2020-02-19T11:34:25Z'.repeat(20_000) } },
      { ...item, properties: { ...full.properties, 's2:product_uri': 'S2A_MSIL2A_'.repeat(30_000) } },
      { ...item, properties: { ...full.properties, datetime: '+275760-09-13T00:00:00.001Z' } },
      { ...item, properties: { ...pollutingObject('x'), datetime: 1e308 } },
      { ...item, properties: deepJsonValue(20_000) },
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 4, arbitrary: jsonCases(item, oversized) },
          { weight: 1, arbitrary: mutateJson(full) },
        ),
        (doc) => {
          const out = expectCodedOrOk(() => fromStacItem(doc), 'fromStacItem');
          if (out.ok) checkScene(out.value);
        },
      ),
      fcParams(300),
    );
  });

  it('discoverMetadata reads any JSON file beside a scene without throwing', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 3, arbitrary: mutateText(text) },
          { weight: 2, arbitrary: mutateJson(item).map((v) => JSON.stringify(v) ?? 'null') },
          { weight: 1, arbitrary: hostileBodyText() },
        ),
        (t) => {
          const scene = join(dir, `${n++}-S2A_MSIL2A_20200219T112111_N0214_R037_T29RKH`);
          mkdirSync(scene);
          writeFileSync(join(scene, 'item.json'), t);
          writeFileSync(join(scene, 'B04.tif'), '');
          const out = expectCodedOrOk(() => discoverMetadata([join(scene, 'B04.tif')]), 'discoverMetadata');
          if (out.ok) checkScene(out.value);
          rmSync(scene, { recursive: true });
        },
      ),
      fcParams(100),
    );
  });
});
