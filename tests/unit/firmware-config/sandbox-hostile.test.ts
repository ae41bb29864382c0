// Hostile vendor codec files are stopped with a clear coded error, within their limits, and the
// process (the gateway) keeps running and keeps decoding honest payloads afterwards.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CodecSandbox } from '../../../firmware-config/codecs/sandbox.ts';
import { HatakeError } from '../../../protocol/errors.ts';
import { LORAWAN_DIR } from './helpers.ts';

const sandbox = new CodecSandbox({ timeMs: 150, graceMs: 600, memoryBytes: 8 * 1024 * 1024 });
afterAll(() => sandbox.close());
const lse01 = readFileSync(join(LORAWAN_DIR, 'dragino/lse01.js'), 'utf8');
const honest = () =>
  sandbox.decodeUplink(lse01, 'lse01.js', {
    bytes: [0xce, 0x29, 0x00, 0xf1, 0x07, 0xa5, 0x09, 0x9b, 0x6e, 0x28, 0x90],
    fPort: 2,
    recvTime: 0,
  });

function run(source: string): { error: HatakeError; ms: number } {
  const t = performance.now();
  try {
    sandbox.decodeUplink(source, 'hostile.js', { bytes: [1, 2, 3], fPort: 1, recvTime: 0 });
  } catch (e) {
    if (e instanceof HatakeError) return { error: e, ms: performance.now() - t };
    throw e;
  }
  throw new Error('the hostile codec was not stopped');
}

const HOSTILE: Array<[string, string, 'HATAKE_E_CODEC' | 'HATAKE_E_CODEC_LIMIT', RegExp]> = [
  [
    'an infinite loop',
    'function decodeUplink(input) { for (;;) {} }',
    'HATAKE_E_CODEC_LIMIT',
    /150 ms limit|did not finish/,
  ],
  [
    'an infinite loop at load time',
    'while (true) {}\nfunction decodeUplink() { return { data: {} }; }',
    'HATAKE_E_CODEC_LIMIT',
    /limit|did not finish/,
  ],
  [
    'a huge allocation',
    'function decodeUplink() { var a = []; for (;;) a.push(new Array(1e5).fill(1)); }',
    'HATAKE_E_CODEC_LIMIT',
    /memory|did not finish/,
  ],
  [
    'a huge string',
    'function decodeUplink() { var s = "x"; for (;;) s += s; }',
    'HATAKE_E_CODEC_LIMIT',
    /memory/,
  ],
  [
    'a typed array bomb',
    'function decodeUplink() { return { data: { x: new Uint8Array(1e9).length } }; }',
    'HATAKE_E_CODEC_LIMIT',
    /memory/,
  ],
  [
    'unbounded recursion',
    'function decodeUplink() { function f(n) { return f(n + 1) + 1; } return f(0); }',
    'HATAKE_E_CODEC_LIMIT',
    /memory/,
  ],
  [
    "require('fs')",
    'function decodeUplink() { var fs = require("fs"); return { data: { x: fs.readFileSync("/etc/passwd", "utf8") } }; }',
    'HATAKE_E_CODEC',
    /require.*not defined/,
  ],
  ['process.exit', 'function decodeUplink() { process.exit(1); }', 'HATAKE_E_CODEC', /process.*not defined/],
  [
    'the Function constructor escape',
    'function decodeUplink() { return { data: { p: this.constructor.constructor("return process")().pid } }; }',
    'HATAKE_E_CODEC',
    /process.*not defined/,
  ],
  [
    'fetch / network',
    'function decodeUplink() { fetch("http://127.0.0.1/"); return { data: {} }; }',
    'HATAKE_E_CODEC',
    /fetch.*not defined/,
  ],
  [
    'a toJSON trap on Object.prototype',
    'Object.prototype.toJSON = function () { for (;;) {} };\nfunction decodeUplink() { return { data: {} }; }',
    'HATAKE_E_CODEC_LIMIT',
    /limit|did not finish/,
  ],
  [
    'a getter that never returns',
    'function decodeUplink() { return { get data() { for (;;) {} } }; }',
    'HATAKE_E_CODEC_LIMIT',
    /limit|did not finish/,
  ],
  [
    'a __proto__ payload',
    'function decodeUplink() { return JSON.parse(\'{"__proto__": {"polluted": 1}, "data": 5}\'); }',
    'HATAKE_E_CODEC',
    /data is not an object/,
  ],
  [
    'a thrown non-error',
    'function decodeUplink() { throw { toString: function () { for (;;) {} } }; }',
    'HATAKE_E_CODEC',
    /./,
  ],
  ['no decodeUplink at all', 'var x = 1;', 'HATAKE_E_CODEC', /decodeUplink.*not defined/],
  ['a syntax error', 'function decodeUplink( {', 'HATAKE_E_CODEC', /SyntaxError/],
  [
    'an answer that is not an object',
    'function decodeUplink() { return 42; }',
    'HATAKE_E_CODEC',
    /returned number/,
  ],
  [
    'a huge output',
    'function decodeUplink() { return { data: { x: "y".repeat(200000) } }; }',
    'HATAKE_E_CODEC_LIMIT',
    /too much/,
  ],
  ['undefined', 'function decodeUplink() {}', 'HATAKE_E_CODEC', /returned nothing/],
];

describe('the codec sandbox against hostile codec files', () => {
  it.each(HOSTILE)('stops %s with a coded error', (_what, source, code, message) => {
    const { error, ms } = run(source);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(ms).toBeLessThan(150 + 600 + 500); // the hard limit, plus room for a busy machine
    // …and the next honest payload still decodes.
    expect(honest().data).toMatchObject({ Bat: 3.625, water_SOIL: '19.57' });
  });

  it('leaves nothing behind in this process: no globals, no prototype changes', () => {
    const out = sandbox.decodeUplink(
      'Object.prototype.polluted = 1; Array.prototype.push = null; globalThis.leak = 1; function decodeUplink() { return { data: { ran: true } }; }',
      'pollute.js',
      { bytes: [], fPort: 1, recvTime: 0 },
    );
    expect(out.data).toEqual({ ran: true });
    expect(Object.hasOwn(out, 'polluted')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(typeof [].push).toBe('function');
    expect((globalThis as Record<string, unknown>).leak).toBeUndefined();
    expect(typeof process.exit).toBe('function');
  });

  it('cannot load modules: a dynamic import never yields the fs module', () => {
    const out = sandbox.decodeUplink(
      'function decodeUplink() { var r = "pending"; import("fs").then(function (m) { r = typeof m.readFileSync; }, function () { r = "refused"; }); return { data: { r: r } }; }',
      'import.js',
      { bytes: [], fPort: 1, recvTime: 0 },
    );
    expect(out.data).toEqual({ r: 'pending' });
  });

  it('gives each call a fresh interpreter: a codec cannot keep state between uplinks', () => {
    const src =
      'var n = (typeof n === "number" ? n : 0) + 1; function decodeUplink() { return { data: { n: n } }; }';
    const a = sandbox.decodeUplink(src, 'state.js', { bytes: [], fPort: 1, recvTime: 0 });
    const b = sandbox.decodeUplink(src, 'state.js', { bytes: [], fPort: 1, recvTime: 0 });
    expect([a.data, b.data]).toEqual([{ n: 1 }, { n: 1 }]);
  });

  it('gives the codec the TTN input: bytes, fPort and the receive time as a Date', () => {
    const out = sandbox.decodeUplink(
      'function decodeUplink(i) { return { data: { n: i.bytes.length, port: i.fPort, t: i.recvTime.toISOString() } }; }',
      'input.js',
      { bytes: [1, 2, 3], fPort: 9, recvTime: Date.UTC(2026, 10, 28) },
    );
    expect(out.data).toEqual({ n: 3, port: 9, t: '2026-11-28T00:00:00.000Z' });
  });

  it('counts limit hits and restarts its worker after a codec it had to kill', () => {
    expect(sandbox.counters.limitHits).toBeGreaterThan(0);
    expect(sandbox.counters.calls).toBeGreaterThan(HOSTILE.length);
  });
});
