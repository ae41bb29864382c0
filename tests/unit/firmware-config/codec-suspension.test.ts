// A vendor codec that keeps running past its limits for one device is suspended for that device:
// each such call blocks the gateway's event loop for up to the hard limit, so a device whose
// payloads make its codec loop would otherwise hold the whole gateway. Other devices of the same
// kit keep decoding; a codec that finishes again, or a new version of its file, starts afresh.
import { afterAll, describe, expect, it } from 'vitest';
import {
  CodecSandbox,
  SUSPEND_AFTER_LIMIT_HITS,
  SUSPEND_FIRST_MS,
} from '../../../firmware-config/codecs/sandbox.ts';
import { HatakeError } from '../../../protocol/errors.ts';

let clock = 1_000_000;
const sandbox = new CodecSandbox({ timeMs: 100, graceMs: 400 }, { now: () => clock });
afterAll(() => sandbox.close());

// Loops on a payload starting 0xff, decodes anything else.
const CODEC = `function decodeUplink(input) {
  if (input.bytes[0] === 0xff) for (;;) {}
  return { data: { level: input.bytes[0] } };
}`;

const decode = (device: string, first: number, source = CODEC) =>
  sandbox.decodeUplink(source, 'picky.js', { bytes: [first, 0], fPort: 1, recvTime: 0 }, device);

function failure(f: () => unknown): HatakeError {
  try {
    f();
  } catch (e) {
    if (e instanceof HatakeError) return e;
    throw e;
  }
  throw new Error('expected a coded error');
}

describe('a codec that keeps running past its limits', () => {
  it('is suspended for the device whose payloads make it loop, and only for that device', () => {
    for (let i = 0; i < SUSPEND_AFTER_LIMIT_HITS; i++) {
      const e = failure(() => decode('bad-1', 0xff));
      expect(e.code).toBe('HATAKE_E_CODEC_LIMIT');
      expect(e.message).toMatch(/100 ms limit|did not finish/);
    }
    const hits = sandbox.counters.limitHits;
    expect(hits).toBe(SUSPEND_AFTER_LIMIT_HITS);

    // Suspended: refused at once, with the reason, without running the codec — a good payload too.
    const refused = failure(() => decode('bad-1', 0xff));
    expect(refused.code).toBe('HATAKE_E_CODEC_LIMIT');
    expect(refused.message).toBe(
      'codec picky.js is suspended for device bad-1 for 60 s more: its last 3 decodes ran past their limits',
    );
    expect(failure(() => decode('bad-1', 7)).message).toMatch(/suspended for device bad-1 for 60 s/);
    expect(sandbox.counters.suspended).toBe(2);
    expect(sandbox.counters.limitHits).toBe(hits);

    // Another device of the same kit decodes meanwhile.
    expect(decode('good-1', 5)).toEqual({ data: { level: 5 } });

    // Past the suspension the codec runs again for bad-1; a payload it decodes starts afresh.
    clock += SUSPEND_FIRST_MS + 1;
    expect(decode('bad-1', 9)).toEqual({ data: { level: 9 } });
    expect(failure(() => decode('bad-1', 0xff)).message).toMatch(/limit|did not finish/);
  });

  it('suspends for twice as long when it keeps looping after a suspension', () => {
    for (let i = 0; i < SUSPEND_AFTER_LIMIT_HITS; i++) failure(() => decode('bad-2', 0xff));
    expect(failure(() => decode('bad-2', 0xff)).message).toMatch(/for 60 s more/);
    clock += SUSPEND_FIRST_MS + 1;
    for (let i = 0; i < SUSPEND_AFTER_LIMIT_HITS; i++)
      expect(failure(() => decode('bad-2', 0xff)).message).not.toMatch(/suspended/);
    expect(failure(() => decode('bad-2', 0xff)).message).toMatch(/for 120 s more/);
  });

  it('starts afresh for a new version of the codec file', () => {
    for (let i = 0; i < SUSPEND_AFTER_LIMIT_HITS; i++) failure(() => decode('bad-3', 0xff));
    expect(failure(() => decode('bad-3', 1)).message).toMatch(/suspended/);
    const fixed = 'function decodeUplink(input) { return { data: { level: input.bytes[0] } }; }';
    expect(decode('bad-3', 0xff, fixed)).toEqual({ data: { level: 0xff } });
  });
});
