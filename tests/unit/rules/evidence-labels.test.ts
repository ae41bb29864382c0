// Every threshold and quantity name a shipped rule writes into a tip's evidence has a label in
// Japanese and English (edge/rules/evidence-labels.ts), and so does every rule. The names are read
// from the rules' source with the TypeScript parser — each `thresholdEvidence(name, …)` and each
// `name:` of an object in a `thresholds` or `quantities` list, through spreads, conditionals, maps
// and the constants they name — so a name in a branch no fixture reaches is found too, and a name
// the reader cannot resolve to a literal (or a literal prefix) fails the test instead of passing
// unseen. The rules are also run on the demo farm, and every name they actually write must be one
// the reader found: the reader is checked against the rules' behaviour, not only their text.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import {
  EVIDENCE_LABELS,
  ruleLabel,
  termLabel,
  valueLabel,
  type EvidenceLabel,
} from '../../../edge/rules/evidence-labels.ts';
import { RULES, evaluateRules } from '../../../edge/rules/index.ts';
import type { RuleContext, ZoneIndexPoint } from '../../../edge/rules/context.ts';
import { loadCatalogue } from '../../../firmware-config/catalogue.ts';
import { Manifest } from '../../../protocol/manifest.ts';
import type { Reading } from '../../../protocol/telemetry.ts';
import { validator } from '../../../protocol/validate.ts';
import { parseYaml } from '../../../protocol/yaml.ts';
import { SIGNALS } from '../../../sim/signals.ts';
import { DAY, HOUR, jst } from './fixtures.ts';

const ROOT = join(import.meta.dirname, '../../..');
const RULES_DIR = join(ROOT, 'edge/rules');
/** The server raises two tips itself: for an approved recommendation, and for a valve its gateway could not close. */
const SERVER_TIP_FILES = [
  join(ROOT, 'dashboard/review/prescription-tip.ts'),
  join(ROOT, 'dashboard/review/automations.ts'),
];

interface Written {
  file: string;
  rule: string;
  /** Names written as they are. */
  names: Set<string>;
  /** Names built from a literal prefix and a part filled in (`tmin_${date}` → `tmin_`). */
  prefixes: Set<string>;
  /** What the reader could not resolve, with its place. */
  unreadable: string[];
}

const calleeName = (e: ts.Expression) =>
  ts.isIdentifier(e) ? e.text : ts.isPropertyAccessExpression(e) ? e.name.text : undefined;

/** The names of the evidence one source file writes, and its rule id. */
function written(file: string): Written {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const where = (n: ts.Node) =>
    `${relative(ROOT, file)}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
  const consts = new Map<string, ts.Expression>();
  let ruleId: string | undefined;
  const out: Written = { file, rule: '', names: new Set(), prefixes: new Set(), unreadable: [] };
  const lists: ts.Expression[] = [];

  const visit = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer) {
      consts.set(n.name.text, n.initializer);
      if (n.name.text === 'RULE_ID' && ts.isStringLiteral(n.initializer)) ruleId = n.initializer.text;
    }
    // `rule: { id: 'officer-review', … }` in a file with no RULE_ID (the server's tip).
    if (
      ts.isPropertyAssignment(n) &&
      n.name.getText(sf) === 'rule' &&
      ts.isObjectLiteralExpression(n.initializer)
    ) {
      for (const p of n.initializer.properties)
        if (ts.isPropertyAssignment(p) && p.name.getText(sf) === 'id' && ts.isStringLiteral(p.initializer))
          ruleId ??= p.initializer.text;
    }
    if (ts.isPropertyAssignment(n) && ['thresholds', 'quantities'].includes(n.name.getText(sf)))
      lists.push(n.initializer);
    if (ts.isShorthandPropertyAssignment(n) && ['thresholds', 'quantities'].includes(n.name.text))
      lists.push(n.name);
    if (ts.isCallExpression(n) && calleeName(n.expression) === 'thresholdEvidence') lists.push(n);
    ts.forEachChild(n, visit);
  };
  visit(sf);

  const name = (e: ts.Expression): void => {
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) out.names.add(e.text);
    else if (ts.isTemplateExpression(e) && e.head.text.length > 0) out.prefixes.add(e.head.text);
    else if (
      ts.isCallExpression(e) &&
      calleeName(e.expression) === 'slice' &&
      ts.isPropertyAccessExpression(e.expression)
    )
      name(e.expression.expression);
    else out.unreadable.push(`${where(e)} name ${e.getText(sf)}`);
  };
  const seen = new Set<ts.Node>();
  const collect = (e: ts.Node): void => {
    if (seen.has(e)) return;
    seen.add(e);
    if (ts.isParenthesizedExpression(e) || ts.isSpreadElement(e) || ts.isAsExpression(e))
      collect(e.expression);
    else if (ts.isArrayLiteralExpression(e)) e.elements.forEach(collect);
    else if (ts.isConditionalExpression(e)) [e.whenTrue, e.whenFalse].forEach(collect);
    else if (ts.isObjectLiteralExpression(e)) {
      const n = e.properties.find((p) => p.name?.getText(sf) === 'name');
      if (n && ts.isPropertyAssignment(n)) name(n.initializer);
      else out.unreadable.push(`${where(e)} an evidence entry without a name: property`);
    } else if (ts.isCallExpression(e) && calleeName(e.expression) === 'thresholdEvidence')
      name(e.arguments[0]!);
    else if (ts.isCallExpression(e) && ['map', 'flatMap'].includes(calleeName(e.expression) ?? '')) {
      const fn = e.arguments[0];
      if (fn && (ts.isArrowFunction(fn) || ts.isFunctionExpression(fn))) {
        if (ts.isBlock(fn.body)) {
          const returns: ts.Expression[] = [];
          const find = (n: ts.Node): void => {
            if (ts.isReturnStatement(n) && n.expression) returns.push(n.expression);
            else if (!ts.isFunctionLike(n)) ts.forEachChild(n, find);
          };
          find(fn.body);
          returns.forEach(collect);
        } else collect(fn.body);
      } else out.unreadable.push(`${where(e)} ${e.getText(sf).slice(0, 60)}`);
    } else if (ts.isIdentifier(e)) {
      const init = consts.get(e.text);
      if (init) collect(init);
      else out.unreadable.push(`${where(e)} ${e.text} (not a constant of the file)`);
    } else out.unreadable.push(`${where(e)} ${e.getText(sf).slice(0, 60)}`);
  };
  lists.forEach(collect);
  if (ruleId === undefined) out.unreadable.push(`${relative(ROOT, file)}: no rule id`);
  out.rule = ruleId ?? '';
  return out;
}

/** The rule files: the modules under edge/rules/ that build tips (call makeDraft). */
const ruleFiles = readdirSync(RULES_DIR)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(RULES_DIR, f))
  .filter((f) => /\bmakeDraft\(/.test(readFileSync(f, 'utf8')) && !f.endsWith('assessment.ts'));
const WRITTEN = [...ruleFiles, ...SERVER_TIP_FILES].map(written);
const byRule = new Map(WRITTEN.map((w) => [w.rule, w]));

const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff]/;
function wellWorded(l: EvidenceLabel | undefined): boolean {
  return (
    l !== undefined &&
    JAPANESE.test(l.ja) &&
    l.en.trim().length > 0 &&
    !JAPANESE.test(l.en) &&
    (l.symbol === undefined || (l.symbol.length > 0 && !JAPANESE.test(l.symbol)))
  );
}

describe('the labels of the evidence', () => {
  it('reads every rule that ships, and every name each one writes', () => {
    expect(ruleFiles.length).toBeGreaterThanOrEqual(10);
    expect(WRITTEN.flatMap((w) => w.unreadable)).toEqual([]);
    expect(new Set(WRITTEN.filter((w) => ruleFiles.includes(w.file)).map((w) => w.rule))).toEqual(
      new Set(RULES.map((r) => r.id)),
    );
    // The reader finds names in every file: a rule that wrote its lists some other way would not pass.
    for (const w of WRITTEN) expect(w.names.size, w.rule).toBeGreaterThan(0);
    expect([...byRule.get('irrigation-fao56')!.names]).toEqual(
      expect.arrayContaining(['taw', 'raw', 'depletion', 'hours_to_raw', 'depletion_rate']),
    );
    expect([...byRule.get('late-blight-hutton')!.prefixes].sort()).toEqual(['humid_hours_', 'tmin_']);
    expect([...byRule.get('growth-stage-gdd')!.prefixes]).toEqual(['stage_']);
    expect([...byRule.get('growth-stage-gdd')!.names]).toEqual(
      expect.arrayContaining(['gdd', 'window_from']),
    );
  });

  it('reads names through spreads, conditionals, maps and constants, and reports what it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatake-labels-'));
    try {
      const file = join(dir, 'partner-rule.ts');
      writeFileSync(
        file,
        [
          "const RULE_ID = 'partner-rule';",
          "const extra = [{ name: 'from_const', value: 1, unit: '1' }];",
          'makeDraft({',
          "  thresholds: [thresholdEvidence('plain', t, 'h'), thresholdEvidence(computed, t, 'h')],",
          '  quantities: [',
          "    { name: `day_${date}`.slice(0, 64), value: 1, unit: '1' },",
          "    ...(c ? [{ name: 'maybe', value: 1, unit: '1' }] : []),",
          "    ...days.map((d) => ({ name: d.id, value: 1, unit: '1' })),",
          '    ...extra,',
          '    ...elsewhere,',
          '  ],',
          '});',
        ].join('\n'),
      );
      const w = written(file);
      expect(w.rule).toBe('partner-rule');
      expect([...w.names].sort()).toEqual(['from_const', 'maybe', 'plain']);
      expect([...w.prefixes]).toEqual(['day_']);
      expect(w.unreadable.map((u) => u.replace(/^.*?:\d+ /, ''))).toEqual([
        'name computed',
        'name d.id',
        'elsewhere (not a constant of the file)',
      ]);
      // And a name so read has no label: the test above would list it.
      expect(termLabel(w.rule, 'plain')).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names every rule, the server’s prescription tip too, in both languages', () => {
    const missing = WRITTEN.filter((w) => !wellWorded(ruleLabel(w.rule))).map((w) => w.rule);
    expect(missing).toEqual([]);
  });

  it('labels every name a rule writes, in Japanese and English', () => {
    const missing = WRITTEN.flatMap((w) => [
      ...[...w.names].filter((n) => !wellWorded(termLabel(w.rule, n))).map((n) => `${w.rule}: ${n}`),
      ...[...w.prefixes]
        .filter((p) => !wellWorded(termLabel(w.rule, `${p}2026-06-01`)))
        .map((p) => `${w.rule}: ${p}…`),
    ]);
    expect(missing).toEqual([]);
  });

  it('keeps no label for a rule or a name no rule writes', () => {
    const stale = Object.entries(EVIDENCE_LABELS).flatMap(([rule, l]) => {
      const w = byRule.get(rule);
      if (!w) return [rule];
      return [
        ...Object.keys(l.terms).filter((n) => !w.names.has(n)),
        ...Object.keys(l.families ?? {}).filter((p) => !w.prefixes.has(p)),
      ].map((n) => `${rule}: ${n}`);
    });
    expect(stale).toEqual([]);
  });

  it('words a term the rules also use as a threshold, where it reads differently there', () => {
    const variants = Object.values(EVIDENCE_LABELS).flatMap((l) =>
      Object.values(l.terms).flatMap((t) => (t.asThreshold ? [t.asThreshold] : [])),
    );
    expect(variants.length).toBeGreaterThan(0);
    expect(variants.filter((v) => !wellWorded(v))).toEqual([]);
  });

  it('has words for both values of a yes/no term', () => {
    const coded = Object.values(EVIDENCE_LABELS).flatMap((l) =>
      Object.values(l.terms).filter((t) => t.reads === 'values'),
    );
    expect(coded.length).toBeGreaterThan(0);
    for (const t of coded) {
      expect(wellWorded(valueLabel(t, 1))).toBe(true);
      expect(wellWorded(valueLabel(t, 0))).toBe(true);
      expect(valueLabel(t, 0.5)).toBeUndefined();
    }
  });

  it('falls back to nothing for an unknown rule or name, so the page shows the identifier', () => {
    expect(ruleLabel('partner-rule')).toBeUndefined();
    expect(termLabel('partner-rule', 'taw')).toBeUndefined();
    expect(termLabel('irrigation-fao56', 'new_term')).toBeUndefined();
    // A term is the rule's own: the frost rule's `threshold` is not another rule's.
    expect(termLabel('frost', 'threshold')).toBeDefined();
    expect(termLabel('battery-low', 'threshold')).toBeUndefined();
    // Object's own keys only, and a family needs something after its prefix.
    expect(termLabel('frost', 'toString')).toBeUndefined();
    expect(ruleLabel('constructor')).toBeUndefined();
    expect(termLabel('late-blight-hutton', 'tmin_')).toBeUndefined();
    expect(termLabel('late-blight-hutton', 'tmin_2026-06-01')).toEqual({
      ja: '最低気温（2026-06-01）',
      en: 'Minimum temperature (2026-06-01)',
    });
  });

  it('finds, in the source, every name the rules write when run on the demo farm', () => {
    const catalogue = loadCatalogue();
    const kits = [...catalogue.kits.values()];
    const file = join(ROOT, 'sim/demo-farm.yaml');
    const demo = parseYaml(readFileSync(file, 'utf8'), file, validator(Manifest));
    /** The demo's simulated sensor kits over the last `days`, every 10 minutes (the gate is the valve simulator's). */
    const readings = (now: number, days: number): Reading[] =>
      demo.devices.flatMap((d, i) => {
        const kit = catalogue.kits.get(d.kit)!;
        const signal = SIGNALS[d.kit]?.(i + 1);
        if (!signal) return [];
        const out: Reading[] = [];
        for (let t = now - days * DAY; t <= now; t += 10 * 60_000)
          for (const [metric, value] of Object.entries(signal(t)))
            out.push({ device: d.id, metric, value, unit: kit.metrics[metric]!.unit, time: t, flags: [] });
        return out;
      });
    // Four zones of upland-1 over six scenes; the last scene has z3 well down.
    const zoneIndex = (now: number): ZoneIndexPoint[] =>
      [5, 4, 3, 2, 1, 0].flatMap((k) =>
        ['z1', 'z2', 'z3', 'z4'].map((zone, z) => ({
          field: 'upland-1',
          zone,
          index: 'ndvi',
          time: now - k * 10 * DAY - DAY,
          mean: k === 0 && zone === 'z3' ? 0.3 : 0.6 + z * 0.02,
          validFraction: 1,
        })),
      );
    const autumn = jst('2026-11-20T06:00');
    const summer = jst('2026-07-20T06:00');
    const contexts: RuleContext[] = [
      // The demo as it runs: late November, frost season, winter wheat sown.
      {
        now: autumn,
        farm: demo.farm,
        fields: demo.fields,
        devices: demo.devices,
        kits,
        readings: readings(autumn, 14),
        zoneIndex: zoneIndex(autumn),
      },
      // Summer, upland-1 in potatoes and the weather station farm-wide (the rice blast rule reads it).
      {
        now: summer,
        farm: demo.farm,
        fields: demo.fields.map((f) =>
          f.id === 'upland-1' ? { ...f, crop: 'potato', plantingDate: '2026-04-20' } : f,
        ),
        devices: demo.devices.map(({ field, ...d }) => (d.id === 'wx-1' ? d : { ...d, field })),
        kits,
        readings: readings(summer, 14).filter((r) => r.device !== 'soil-1' || r.time < summer - 6 * HOUR),
        // Warm days since the paddy was planted (growth stage); the paddy's stage as declared.
        dailyTemperatures: Array.from({ length: 70 }, (_, i) => ({
          date: new Date(Date.parse('2026-05-10T00:00:00Z') + i * DAY).toISOString().slice(0, 10),
          tmin: 18,
          tmax: 28,
        })),
        stages: { 'paddy-1': 'tillering' },
      },
    ];
    const ran = new Map<string, Set<string>>();
    for (const ctx of contexts)
      for (const a of evaluateRules(ctx).assessments) {
        const { rule, thresholds, quantities } = a.draft.evidence;
        let s = ran.get(rule.id);
        if (!s) ran.set(rule.id, (s = new Set()));
        for (const x of [...thresholds, ...quantities]) s.add(x.name);
      }
    // The run reaches every rule, so the comparison means something.
    expect(new Set(ran.keys())).toEqual(new Set(RULES.map((r) => r.id)));
    const unknown = [...ran].flatMap(([rule, names]) =>
      [...names]
        .filter((n) => {
          const w = byRule.get(rule);
          return !w || !(w.names.has(n) || [...w.prefixes].some((p) => n.startsWith(p)));
        })
        .map((n) => `${rule}: ${n}`),
    );
    expect(unknown).toEqual([]);
    const unlabelled = [...ran].flatMap(([rule, names]) =>
      [...names].filter((n) => !wellWorded(termLabel(rule, n))).map((n) => `${rule}: ${n}`),
    );
    expect(unlabelled).toEqual([]);
  });
});
