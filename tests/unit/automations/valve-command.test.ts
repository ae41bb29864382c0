// What the simulated water gate takes on its `down` topic: exactly the hatake-water-gate kit's
// payloads (open, close, open for 1–720 minutes); anything else — hostile or malformed — is
// refused and leaves the valve as it was.
import { describe, expect, it } from 'vitest';
import { MAX_COMMAND_BYTES, parseCommand } from '../../../sim/valve.ts';
import { encodeCommand } from '../../../firmware-config/commands.ts';
import { kitOf } from './fixtures.ts';

const b = (s: string) => Buffer.from(s);

describe('simulated valve commands', () => {
  it('takes the payloads the kit encodes', () => {
    const kit = kitOf('gate-1')!;
    expect(parseCommand(b(encodeCommand(kit, 'open').payload))).toEqual({ command: 'open' });
    expect(parseCommand(b(encodeCommand(kit, 'close').payload))).toEqual({ command: 'close' });
    expect(parseCommand(b(encodeCommand(kit, 'open_for', { minutes: 30 }).payload))).toEqual({
      command: 'open',
      minutes: 30,
    });
  });

  it.each([
    ['not JSON', '{command: open}'],
    ['a JSON string', '"open"'],
    ['an array', '[{"command":"open"}]'],
    ['null', 'null'],
    ['an unknown command', '{"command":"flood"}'],
    ['zero minutes', '{"command":"open","minutes":0}'],
    ['too many minutes', '{"command":"open","minutes":721}'],
    ['fractional minutes', '{"command":"open","minutes":1.5}'],
    ['minutes as a string', '{"command":"open","minutes":"30"}'],
    ['close with minutes', '{"command":"close","minutes":5}'],
    ['an extra field', '{"command":"open","force":true}'],
    ['a prototype key', '{"command":"open","__proto__":{"minutes":5}}'],
    ['invalid UTF-8', '\u00ff\u00fe'],
  ])('refuses %s', (_w, text) => {
    expect(parseCommand(b(text))).toBeUndefined();
  });

  it('refuses a payload over its size limit without parsing it', () => {
    const big = `{"command":"open","pad":"${'x'.repeat(MAX_COMMAND_BYTES)}"}`;
    expect(parseCommand(b(big))).toBeUndefined();
  });
});
