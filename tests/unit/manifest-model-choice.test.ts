// A field's choice of model and crop profile in the manifest: which ones serve it (chooseModel —
// today's defaults when it names none, its variety's profile when one is installed), and what
// `hatake kit validate` reports, each at its line and column: a model or version not installed, a
// model whose card is not for the field's crop, a profile not installed, a profile of another
// crop or without the constants the model reads, a model or profile named without a crop. The
// models and profiles are the shipped ones, read by the real registry.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CROP_MODELS,
  checkManifest,
  chooseModel,
  installedModels,
  varietySlug,
  type FieldModelChoice,
  type InstalledModels,
} from '../../firmware-config/manifest-check.ts';
import { CROP_MODELS } from '../../gateway/recommender.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import { catalogue } from './firmware-config/helpers.ts';

const models: InstalledModels = installedModels(
  new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] }),
);
const cat = catalogue();
const DEMO = join(import.meta.dirname, '../../sim/demo-farm.yaml');
const today = '2026-11-28';

/** "model@version profile (why)" of a field's choice, or what refused it. */
function chosen(field: Omit<FieldModelChoice, 'id'>): string {
  const c = chooseModel({ id: 'f1', ...field }, models);
  if (c.kind === 'none') return 'none';
  if (c.kind === 'refused')
    return `refused ${c.model}: ${c.problems.map((p) => `${p.pointer} ${p.message}`).join('; ')}`;
  return `${c.card.id}@${c.card.version} ${c.profile.id} (${c.profileBy})`;
}

describe('which model and profile serve a field', () => {
  it('a field that names nothing gets today’s defaults', () => {
    expect(CROP_MODELS).toBe(DEFAULT_CROP_MODELS);
    expect(DEFAULT_CROP_MODELS).toEqual({
      'winter-wheat': { model: 'osu-sbnrc', profile: 'winter-wheat-osu-2007' },
      wheat: { model: 'osu-sbnrc', profile: 'winter-wheat-osu-2007' },
      rice: { model: 'rice-pi-topdress-ndvi', profile: 'rice-koshihikari' },
      corn: { model: 'holland-schepers-si', profile: 'corn-holland-schepers' },
    });
    for (const [crop, d] of Object.entries(DEFAULT_CROP_MODELS)) {
      const c = chooseModel({ id: 'f1', crop }, models);
      expect(c.kind === 'chosen' && [c.card.id, c.profile.id], crop).toEqual([d.model, d.profile]);
    }
    // the demo farm's fields: Koshihikari is the rice default, Yukichikara has no profile of its own
    expect(chosen({ crop: 'rice', variety: 'Koshihikari' })).toBe(
      'rice-pi-topdress-ndvi@1.1.0 rice-koshihikari (variety)',
    );
    expect(chosen({ crop: 'winter-wheat', variety: 'Yukichikara' })).toBe(
      'osu-sbnrc@1.0.0 winter-wheat-osu-2007 (crop_default)',
    );
    expect(chosen({ crop: 'wheat' })).toBe('osu-sbnrc@1.0.0 winter-wheat-osu-2007 (crop_default)');
    // no crop, or a crop without a model: nothing, as before
    expect(chosen({})).toBe('none');
    expect(chosen({ crop: 'soybean' })).toBe('none');
    expect(chosen({ crop: 'constructor' })).toBe('none');
  });

  it('a rice field’s variety picks its profile, written in Latin letters or in Japanese', () => {
    for (const variety of ['Shinnosuke', 'shinnosuke', ' SHINNOSUKE ', '新之助'])
      expect(chosen({ crop: 'rice', variety }), variety).toBe(
        'rice-pi-topdress-ndvi@1.1.0 rice-shinnosuke-niigata (variety)',
      );
    expect(chosen({ crop: 'rice', variety: 'コシヒカリ' })).toBe(
      'rice-pi-topdress-ndvi@1.1.0 rice-koshihikari (variety)',
    );
    // a variety with no profile of its own: the crop's default
    for (const variety of ['Yumepirika', 'ゆめぴりか', 'Shinnosuke2', '新之'])
      expect(chosen({ crop: 'rice', variety }), variety).toBe(
        'rice-pi-topdress-ndvi@1.1.0 rice-koshihikari (crop_default)',
      );
    expect(varietySlug('Koshihikari BL')).toBe('koshihikari-bl');
    expect(varietySlug('新之助')).toBe('');
  });

  it('a named model gets the profile its card lists for the crop, unless the field names one', () => {
    expect(chosen({ crop: 'corn', model: { id: 'osu-sbnrc' } })).toBe(
      'osu-sbnrc@1.0.0 corn-osu-2004 (model)',
    );
    expect(
      chosen({ crop: 'corn', model: { id: 'osu-sbnrc', version: '1.0.0' }, profile: 'corn-osu-2004' }),
    ).toBe('osu-sbnrc@1.0.0 corn-osu-2004 (manifest)');
    expect(chosen({ crop: 'corn', model: { id: 'lasrosas-corn-rf' } })).toBe(
      'lasrosas-corn-rf@1.1.0 corn-lasrosas-trial (model)',
    );
    expect(chosen({ crop: 'winter-wheat', profile: 'winter-wheat-osu-2007-adjusted' })).toBe(
      'osu-sbnrc@1.0.0 winter-wheat-osu-2007-adjusted (manifest)',
    );
    expect(chosen({ crop: 'rice', variety: 'Shinnosuke', model: { id: 'rice-pi-topdress-ndre' } })).toBe(
      'rice-pi-topdress-ndre@1.1.0 rice-shinnosuke-niigata (variety)',
    );
    expect(chosen({ crop: 'rice', variety: 'Shinnosuke', profile: 'rice-koshihikari' })).toBe(
      'rice-pi-topdress-ndvi@1.1.0 rice-koshihikari (manifest)',
    );
  });

  it('the highest installed version serves unless the field names one', () => {
    const card = models.cards.find((c) => c.id === 'osu-sbnrc')!;
    const more: InstalledModels = {
      ...models,
      cards: [...models.cards, { ...card, version: '1.10.0' }, { ...card, version: '1.9.0' }],
    };
    const at = (model: FieldModelChoice['model']) => {
      const c = chooseModel({ id: 'f1', crop: 'corn', model }, more);
      return c.kind === 'chosen' ? c.card.version : c.kind;
    };
    expect(at({ id: 'osu-sbnrc' })).toBe('1.10.0');
    expect(at({ id: 'osu-sbnrc', version: '1.0.0' })).toBe('1.0.0');
  });
});

/** A manifest whose first field is `field` (YAML lines, indented under the list item). */
const manifestWith = (...fields: string[]) =>
  [
    'farm: { id: f1, name: F }',
    'fields:',
    ...fields.map((f, k) => `  - id: f${k + 1}\n    name: F${k + 1}\n${f}`),
    'devices: []',
    '',
  ].join('\n');

describe('hatake kit validate reports a field’s bad choice at its line and column', () => {
  const text = manifestWith(
    '    crop: corn\n    model: { id: osu-sbnrk }', // line 6
    '    crop: corn\n    model:\n      id: osu-sbnrc\n      version: 2.0.0', // 12
    '    crop: rice\n    model: { id: holland-schepers-si }', // 16
    '    crop: rice\n    profile: rice-tsuyahime', // 20
    '    crop: corn\n    model: { id: osu-sbnrc }\n    profile: winter-wheat-osu-2007', // 25
    '    crop: corn\n    model: { id: holland-schepers-si }\n    profile: corn-osu-2004', // 30
    '    model: { id: osu-sbnrc }', // 33
    '    crop: soybean\n    profile: corn-osu-2004', // 37
    '    crop: rice\n    variety: Shinnosuke\n    model: { id: rice-pi-topdress-ndre }', // fine
  );

  it('every problem, placed, with the installed choices as the expectation', () => {
    const { manifest, problems } = checkManifest('farm.yaml', text, { catalogue: cat, today, models });
    expect(manifest).toBeUndefined();
    expect(problems.map((p) => [p.place?.line, p.place?.column, p.code, p.message])).toEqual([
      [6, 18, 'HATAKE_E_MANIFEST_MODEL', 'model "osu-sbnrk" is not installed'],
      [12, 16, 'HATAKE_E_MANIFEST_MODEL', 'model osu-sbnrc 2.0.0 is not installed'],
      [
        16,
        18,
        'HATAKE_E_MANIFEST_MODEL',
        'model holland-schepers-si@1.0.0 is for corn, and field f3 grows rice',
      ],
      [20, 14, 'HATAKE_E_MANIFEST_PROFILE', 'crop profile "rice-tsuyahime" is not installed'],
      [
        25,
        14,
        'HATAKE_E_MANIFEST_PROFILE',
        'crop profile winter-wheat-osu-2007 is for winter-wheat, and field f5 grows corn',
      ],
      [
        30,
        14,
        'HATAKE_E_MANIFEST_PROFILE',
        'model holland-schepers-si@1.0.0 reads hollandSchepers.nOptKgHa, hollandSchepers.deltaSi, which crop profile corn-osu-2004 does not have',
      ],
      [33, 18, 'HATAKE_E_MANIFEST_MODEL', 'field f7 names model osu-sbnrc but no crop'],
      [
        37,
        14,
        'HATAKE_E_MANIFEST_PROFILE',
        'crop profile corn-osu-2004 is for corn, and field f8 grows soybean',
      ],
      [
        37,
        14,
        'HATAKE_E_MANIFEST_MODEL',
        'crop soybean has no default model to read crop profile corn-osu-2004',
      ],
    ]);
    const expected = Object.fromEntries(problems.map((p) => [p.place!.line!, p.expected]));
    expect(expected[6]).toBe('a model for corn: holland-schepers-si, lasrosas-corn-rf, osu-sbnrc');
    expect(expected[12]).toBe('an installed version: 1.0.0; or no version, for the highest');
    expect(expected[16]).toBe('a model for rice: rice-pi-topdress-ndre, rice-pi-topdress-ndvi');
    // the default model's profiles (the NDVI model: its card's order)
    expect(expected[20]).toBe(
      'a crop profile rice-pi-topdress-ndvi@1.1.0 reads: rice-shinnosuke-niigata, rice-koshihikari',
    );
    expect(expected[25]).toBe('a crop profile osu-sbnrc@1.0.0 reads: corn-osu-2004');
    expect(expected[30]).toBe('a crop profile holland-schepers-si@1.0.0 reads: corn-holland-schepers');
    for (const p of problems) {
      expect(p.place?.file).toBe('farm.yaml');
      expect(p.describe()).toMatch(
        /^HATAKE_E_MANIFEST_(MODEL|PROFILE) farm\.yaml:\d+:\d+: .+ \(expected .+\)$/,
      );
    }
  });

  it('a good choice is valid, and the loaded manifest keeps it for the gateway', () => {
    const good = manifestWith(
      '    crop: corn\n    model: { id: osu-sbnrc, version: 1.0.0 }\n    profile: corn-osu-2004',
      '    crop: rice\n    variety: Shinnosuke\n    model: { id: rice-pi-topdress-ndre }',
    );
    const { manifest, problems } = checkManifest('farm.yaml', good, { catalogue: cat, today, models });
    expect(problems).toEqual([]);
    expect(manifest?.fields.map((f) => [f.model, f.profile])).toEqual([
      [{ id: 'osu-sbnrc', version: '1.0.0' }, 'corn-osu-2004'],
      [{ id: 'rice-pi-topdress-ndre' }, undefined],
    ]);
  });

  it('the demo manifest, which names no model, stays valid', () => {
    const { problems } = checkManifest(DEMO, readFileSync(DEMO, 'utf8'), { catalogue: cat, today, models });
    expect(problems).toEqual([]);
  });

  it('without the installed models, only the schema of the choice is checked', () => {
    expect(checkManifest('farm.yaml', text, { catalogue: cat, today }).problems).toEqual([]);
    const bad = manifestWith('    crop: corn\n    model: { id: OSU, revision: 2 }\n    profile: 7');
    const { problems } = checkManifest('farm.yaml', bad, { catalogue: cat, today, models });
    expect(problems.map((p) => [p.place?.line, p.code])).toEqual([
      [6, 'HATAKE_E_MANIFEST_FORMAT'],
      [6, 'HATAKE_E_MANIFEST_UNKNOWN_KEY'],
      [7, 'HATAKE_E_MANIFEST_TYPE'],
    ]);
  });
});
