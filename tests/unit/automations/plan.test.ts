// Checking an automation document on the gateway before running it: the contract, this farm,
// devices the gateway knows, a sensor that measures the metric, commands the actuator's kit takes
// within its limits, a plain close command for the safety stop, a timed opening within the
// maximum open time. Hostile documents get a coded error with the JSON pointer of the problem.
import { describe, expect, it } from 'vitest';
import { isHatakeError } from '../../../protocol/errors.ts';
import { actuatorOf, planAutomation } from '../../../gateway/automations/plan.ts';
import { FARM, irrigation, kitOf, paddyBand } from './fixtures.ts';

function refusal(doc: unknown): { code: string; pointer: string | undefined; message: string } {
  try {
    planAutomation(doc, FARM, kitOf);
  } catch (e) {
    if (!isHatakeError(e)) throw e;
    return { code: e.code, pointer: e.place?.pointer, message: e.message };
  }
  throw new Error('accepted');
}

describe('planning an automation', () => {
  it('resolves each command to its payload, the state it expects and the close for the safety stop', () => {
    const plan = planAutomation(irrigation(), FARM, kitOf);
    expect(plan.sensor).toEqual({ device: 'soil-1', metric: 'soil_vwc' });
    expect(plan.commands).toMatchObject([
      {
        role: 'action',
        command: {
          device: 'gate-1',
          payload: '{"command":"open","minutes":30}',
          expect: { metric: 'valve_state', value: 1 },
          opening: true,
          selfCloseMinutes: 30,
        },
        close: { name: 'close', payload: '{"command":"close"}', opening: false, selfCloseMinutes: null },
      },
    ]);
    const band = planAutomation(paddyBand(), FARM, kitOf);
    expect(band.commands.map((c) => [c.role, c.command.name, c.command.opening])).toEqual([
      ['below', 'open', true],
      ['above', 'close', false],
    ]);
  });

  it('knows which devices are actuators it can drive', () => {
    expect(actuatorOf(kitOf('gate-1'), 'gate-1')).toMatchObject({
      metric: 'valve_state',
      close: { name: 'close' },
      open: { name: 'open' },
    });
    expect(actuatorOf(kitOf('soil-1'), 'soil-1')).toBeUndefined();
    expect(actuatorOf(undefined, 'nope')).toBeUndefined();
  });

  it.each([
    ['another farm', { ...irrigation(), farm: 'other-farm' }, 'HATAKE_E_AUTOMATION', '/farm'],
    [
      'an unknown sensor',
      { ...irrigation(), trigger: { ...irrigation().trigger, device: 'ghost-1' } },
      'HATAKE_E_AUTOMATION',
      '/trigger/device',
    ],
    [
      'a metric the sensor does not measure',
      { ...irrigation(), trigger: { ...irrigation().trigger, metric: 'water_level' } },
      'HATAKE_E_AUTOMATION',
      '/trigger/metric',
    ],
    [
      'a sensor as the actuator',
      { ...irrigation(), action: { device: 'soil-1', command: 'open' } },
      'HATAKE_E_UNKNOWN_COMMAND',
      '/action/command',
    ],
    [
      'an unknown command',
      { ...irrigation(), action: { device: 'gate-1', command: 'explode' } },
      'HATAKE_E_UNKNOWN_COMMAND',
      '/action/command',
    ],
    [
      'minutes past the kit limit',
      { ...irrigation(), action: { device: 'gate-1', command: 'open_for', params: { minutes: 721 } } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/action/params/minutes',
    ],
    [
      'a parameter the command does not take',
      { ...irrigation(), action: { device: 'gate-1', command: 'open', params: { minutes: 5 } } },
      'HATAKE_E_PAYLOAD_SCHEMA',
      '/action/params/minutes',
    ],
    [
      'a timed opening longer than the maximum open time',
      irrigation({}, { maxOpenMinutes: 20 }),
      'HATAKE_E_AUTOMATION',
      '/action/params/minutes',
    ],
    [
      'a band upside down',
      paddyBand({ trigger: { kind: 'band', device: 'level-1', metric: 'water_level', low: 5, high: 3 } }),
      'HATAKE_E_AUTOMATION',
      '/trigger/low',
    ],
    [
      'a band without commands',
      { ...paddyBand(), below: undefined, above: undefined },
      'HATAKE_E_AUTOMATION',
      '/below',
    ],
    [
      'a threshold with band commands',
      { ...irrigation(), below: { device: 'gate-1', command: 'open' } },
      'HATAKE_E_AUTOMATION',
      '/below',
    ],
    [
      'empty quiet hours',
      irrigation({}, { quietHours: { from: '22:00', to: '22:00' } }),
      'HATAKE_E_AUTOMATION',
      '/limits/quietHours',
    ],
    [
      'quiet hours that are not times',
      irrigation({}, { quietHours: { from: '25:00', to: '05:00' } }),
      'HATAKE_E_AUTOMATION',
      '/limits/quietHours/from',
    ],
    [
      'more than 96 runs a day',
      irrigation({}, { maxRunsPerDay: 97 }),
      'HATAKE_E_AUTOMATION',
      '/limits/maxRunsPerDay',
    ],
    ['an unknown field', { ...irrigation(), script: 'rm -rf /' }, 'HATAKE_E_AUTOMATION', '/script'],
    [
      'a name of 10 000 characters',
      irrigation({ name: { ja: 'あ'.repeat(10_000), en: 'x' } }),
      'HATAKE_E_AUTOMATION',
      '/name/ja',
    ],
    [
      'a string threshold',
      { ...irrigation(), trigger: { ...irrigation().trigger, value: '0.22' } },
      'HATAKE_E_AUTOMATION',
      '/trigger',
    ],
    ['null', null, 'HATAKE_E_AUTOMATION', '/'],
    ['an array', [irrigation()], 'HATAKE_E_AUTOMATION', '/'],
  ])('refuses %s', (_what, doc, code, pointer) => {
    const r = refusal(doc);
    expect(r.code).toBe(code);
    expect(r.pointer?.startsWith(pointer) ?? false, `${r.pointer} ${r.message}`).toBe(true);
  });

  it('refuses a command object carrying a prototype key instead of running it', () => {
    const doc = JSON.parse(
      JSON.stringify(irrigation()).replace('"params":{"minutes":30}', '"params":{"__proto__":{"minutes":1}}'),
    ) as unknown;
    const r = refusal(doc);
    expect(r.code).toMatch(/HATAKE_E_(PAYLOAD_SCHEMA|AUTOMATION)/);
  });
});
