// The gateway file's `rules:` section: the tip rules' settings (a frost area of the local office,
// measured soil constants of a field, the irrigation rate), checked against each rule's schema
// when the gateway starts — a bad one stops it with a coded error at its key and line, never a
// rule that fails later on every evaluation.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { resolveRulesConfig } from '../../edge/rules/index.ts';
import { FROST_DEFAULTS } from '../../edge/rules/frost.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-rules-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEAD = 'id: gw-1\ndataDir: data\nmanifest: farm.yaml\nregistry: registry.json\n';
const write = (rules: string) => {
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, HEAD + rules);
  return file;
};
const refusal = (file: string) => {
  try {
    loadGatewayConfig(file);
  } catch (e) {
    return e as { code: string; message: string; place: { file: string; pointer: string; line: number } };
  }
  throw new Error('the config was accepted');
};

describe('rules: in the gateway file', () => {
  it('gives every rule its defaults when absent', () => {
    const c = loadGatewayConfig(write(''));
    expect(resolveRulesConfig(c.rules).get('frost')).toEqual(FROST_DEFAULTS);
  });

  it('switches rules off and replaces parameters, as the rules then run', () => {
    const file = write(
      [
        'rules:',
        '  disabled: [blastam]',
        '  params:',
        '    frost:',
        '      areas:',
        '        tokachi: { name: { ja: 十勝, en: Tokachi }, thresholdC: 2, seasons: [{ from: "05-01", to: "06-15" }] }',
        '        default: { name: { ja: 既定, en: default }, thresholdC: 3, seasons: [{ from: "03-01", to: "05-31" }] }',
        '    irrigation-fao56:',
        '      fieldOverrides: { field-1: { fc: 0.34, wp: 0.18 } }',
        '      applicationRateMmPerHour: 6',
        '',
      ].join('\n'),
    );
    const resolved = resolveRulesConfig(loadGatewayConfig(file).rules);
    expect(resolved.has('blastam')).toBe(false);
    const frost = resolved.get('frost') as typeof FROST_DEFAULTS;
    expect(frost.areas['tokachi']!.thresholdC).toBe(2);
    expect(frost.severeC).toBe(FROST_DEFAULTS.severeC); // keys not given keep their defaults
    expect(resolved.get('irrigation-fao56')).toMatchObject({
      fieldOverrides: { 'field-1': { fc: 0.34, wp: 0.18 } },
      applicationRateMmPerHour: 6,
    });
  });

  it('refuses a parameter the rule does not accept, at its key and line', () => {
    const file = write('rules:\n  params:\n    frost:\n      severeC: "cold"\n');
    const e = refusal(file);
    expect(e.code).toBe('HATAKE_E_CONFIG');
    expect(e.message).toContain('parameters of rule frost: /severeC');
    expect(e.place).toMatchObject({ file, pointer: '/rules/params/frost/severeC', line: 8 });
  });

  it('refuses parameters that disagree with each other (severe above the threshold)', () => {
    const e = refusal(write('rules:\n  params:\n    frost: { severeC: 5 }\n'));
    expect(e.code).toBe('HATAKE_E_CONFIG');
    expect(e.message).toContain('severeC must not exceed the threshold');
    expect(e.place).toMatchObject({ pointer: '/rules/params/frost', line: 7 });
  });

  it('refuses a rule id that does not exist, in disabled or in params, naming the ones that do', () => {
    const d = refusal(write('rules:\n  disabled: [frost, frostt]\n'));
    expect(d).toMatchObject({ code: 'HATAKE_E_CONFIG', place: { pointer: '/rules/disabled/1', line: 6 } });
    expect(d.message).toBe('no rule "frostt"');
    expect((d as unknown as { expected: string }).expected).toContain('irrigation-fao56');
    const p = refusal(write('rules:\n  params:\n    blast: { label: x }\n'));
    expect(p).toMatchObject({ code: 'HATAKE_E_CONFIG', place: { pointer: '/rules/params/blast', line: 7 } });
  });

  it('refuses a malformed section by the schema (a list where a map belongs, an id with a slash)', () => {
    expect(refusal(write('rules:\n  params: [frost]\n'))).toMatchObject({
      code: 'HATAKE_E_CONFIG',
      place: { pointer: '/rules/params' },
    });
    expect(refusal(write('rules:\n  disabled: ["../frost"]\n'))).toMatchObject({
      code: 'HATAKE_E_CONFIG',
      place: { pointer: '/rules/disabled/0' },
    });
  });
});
