// Vendor codec files (The Things Network Device Repository format) made hostile: the real Dragino,
// Decentlab and SenseCAP codecs cut, flipped and spliced with hostile code and strings, and loops,
// allocations and prototype tampering stitched together at random — run by the gateway's codec
// sandbox on random uplink bytes, directly and through a kit of the catalogue (the path the
// gateway takes). Each call answers an output or HATAKE_E_CODEC / HATAKE_E_CODEC_LIMIT within the
// sandbox's hard limit, this process is untouched, and an honest codec still decodes afterwards.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CodecSandbox } from '../../firmware-config/codecs/sandbox.ts';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { decodePayload } from '../../firmware-config/decode.ts';
import { BUILTIN_KITS_DIR } from '../../firmware-config/catalogue.ts';
import { expectCodedOrOk, fcParams, hostileString, mutateText } from '../helpers/hostile-values.ts';

const LORAWAN = join(import.meta.dirname, '../../../shared/data/lorawan');
const LIMITS = { timeMs: 100, graceMs: 300, memoryBytes: 8 * 1024 * 1024 };
/** The sandbox's hard limit plus room for a worker restart on this shared two-core machine. */
const HARD_MS = LIMITS.timeMs + LIMITS.graceMs + 1_500;
const sandbox = new CodecSandbox(LIMITS);
afterAll(() => sandbox.close());

const CODECS = [
  'dragino/lse01.js',
  'decentlab/dl-smtp.js',
  'decentlab/dl-atm41.js',
  'sensecap/sensecap210x-common-decoder.js',
];
const sources = CODECS.map((f) => ({ file: f, source: readFileSync(join(LORAWAN, f), 'utf8') }));
const LSE01_UPLINK = [0xce, 0x29, 0x00, 0xf1, 0x07, 0xa5, 0x09, 0x9b, 0x6e, 0x28, 0x90];

/** Pieces of hostile JavaScript, stitched into a codec body. */
const FRAGMENTS = [
  'for(;;){}',
  'while(true){var a=[];a.push(new Array(1e6))}',
  'var s="x";for(;;)s+=s;',
  'Object.prototype.data={polluted:1};',
  'Array.prototype.push=function(){for(;;){}};',
  'Object.defineProperty(Object.prototype,"toJSON",{get:function(){for(;;){}}});',
  'JSON.stringify=function(){return "{}"};',
  'return {data:{x:new Array(1e7).join("y")}};',
  'return {data:{__proto__:{polluted:1}}};',
  'return {data:{}, errors:[new Array(1e5).join("e")]};',
  'throw new Error("vendor error");',
  'throw null;',
  'return {data:{x:NaN,y:Infinity,z:-0}};',
  'return {data:{soil_vwc:"wet"}};',
  'return input.bytes.map(function(){return input.bytes});',
  'var f=function(){return f()};f();',
  'this.constructor.constructor("return process")().exit(1);',
  'globalThis.decodeUplink=null;',
  'return Promise.resolve({data:{}});',
  'return {get data(){throw new Error("getter")}};',
  'return {data:{a:{b:{c:{d:{e:{f:1}}}}}}};',
];

const codecArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(...sources)
      .chain((c) => mutateText(c.source).map((source) => ({ file: c.file, source }))),
  },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.oneof(
          fc.constantFrom(...FRAGMENTS),
          hostileString().map((s) => JSON.stringify(s.slice(0, 2000)) + ';'),
        ),
        {
          minLength: 1,
          maxLength: 4,
        },
      )
      .map((body) => ({
        file: 'stitched.js',
        source: `function decodeUplink(input) { ${body.join('\n')} }`,
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...sources), fc.constantFrom(...FRAGMENTS))
      .map(([c, frag]) => ({ file: c.file, source: `${frag.replace(/^return .*/, '')}\n${c.source}` })),
  },
);

const uplinkArb = fc.record({
  bytes: fc.oneof(
    fc.constant(LSE01_UPLINK),
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
    fc.constant([] as number[]),
  ),
  fPort: fc.oneof(fc.constantFrom(1, 2, 223, 0), fc.integer({ min: -5, max: 1000 })),
});

function honest(): void {
  const lse01 = sources[0]!;
  const out = sandbox.decodeUplink(lse01.source, lse01.file, { bytes: LSE01_UPLINK, fPort: 2, recvTime: 0 });
  expect(out.data).toHaveProperty('water_SOIL');
}

describe('hostile vendor codec files in the sandbox', () => {
  it('answer an output or a codec error within the hard limit, and an honest codec decodes afterwards', () => {
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort().join(',');
    const seen = new Set<string>();
    fc.assert(
      fc.property(codecArb, uplinkArb, ({ file, source }, { bytes, fPort }) => {
        const out = expectCodedOrOk(
          () => sandbox.decodeUplink(source, file, { bytes, fPort, recvTime: Date.now() }),
          `codec ${file}`,
          HARD_MS,
        );
        if (!out.ok) {
          expect(out.error.code).toMatch(/^HATAKE_E_CODEC(_LIMIT)?$/);
          seen.add(out.error.code);
        } else expect(typeof out.value).toBe('object');
        expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
      }),
      fcParams(60),
    );
    expect(Object.getOwnPropertyNames(Object.prototype).sort().join(',')).toBe(protoBefore);
    expect(seen).toContain('HATAKE_E_CODEC');
    expect(seen).toContain('HATAKE_E_CODEC_LIMIT');
    honest();
  }, 120_000);

  it('reach the gateway as readings or a coded error through a kit of the catalogue', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-codecs-'));
    try {
      const kitDir = join(dir, 'kits');
      const codecDir = join(dir, 'codecs');
      mkdirSync(join(codecDir, 'dragino'), { recursive: true });
      mkdirSync(kitDir);
      // The Dragino kit of the catalogue, pointing at the hostile codec file instead.
      const kitText = readFileSync(join(BUILTIN_KITS_DIR, 'dragino-lse01.yaml'), 'utf8')
        .replace('id: dragino-lse01', 'id: hostile-lse01')
        .replace('codecFile: dragino/lse01.js', 'codecFile: dragino/hostile.js');
      writeFileSync(join(kitDir, 'hostile-lse01.yaml'), kitText);
      const codes = new Set<string>();
      fc.assert(
        fc.property(codecArb, uplinkArb, ({ source }, { bytes, fPort }) => {
          writeFileSync(join(codecDir, 'dragino', 'hostile.js'), source);
          const catalogue = loadCatalogue([kitDir], { codecDirs: [codecDir] });
          const kit = catalogue.require('hostile-lse01');
          const out = expectCodedOrOk(
            () =>
              decodePayload(new Uint8Array(bytes), {
                device: 'soil-9',
                kit,
                receivedAt: Date.now(),
                fPort,
                sandbox,
              }),
            'decodePayload',
            HARD_MS,
          );
          if (out.ok)
            for (const r of out.value) expect(Number.isFinite(r.value), JSON.stringify(r)).toBe(true);
          else codes.add(out.error.code);
        }),
        fcParams(30),
      );
      expect(codes).toContain('HATAKE_E_CODEC'); // the hostile codecs ran on this path
      honest();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
