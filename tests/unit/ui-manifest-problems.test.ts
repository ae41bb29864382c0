// Manifest problems on the partner's provisioning page (dashboard/ui/manifest-problems.ts): the
// server's checker writes them in English; the page says what is wrong in the reader's language by
// the problem's code, where it is, and keeps the server's text as the detail. The list of codes
// the page knows is held to what the real checker gives, over a manifest with one of each mistake.
import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { checkUpload } from '../../dashboard/partner/manifests.ts';
import {
  MANIFEST_PROBLEM_CODES,
  isKnownProblemCode,
  problemPlace,
  problemText,
} from '../../dashboard/ui/manifest-problems.ts';
import { translate } from '../../dashboard/ui/i18n.ts';

const ja = (k: string) => translate('ja', k);
const en = (k: string) => translate('en', k);

/** One of each mistake the checker knows that the upload route lets through to it. */
const WRONG = `farm: { id: demo-farm, name: はたけデモ農場, timezone: Mars/Olympus }
fields:
  - id: upland-1
    name: 畑1号
    plantingDate: 2999-04-01
    boundary:
      type: Polygon
      coordinates: [[[138.9020, 37.8000], [138.9035, 37.8000], [138.9035, 37.8010], [138.9020, 37.8010]]]
  - { id: upland-1, name: 畑2号, boundary: missing.geojson }
devices:
  - { id: wx-1, kit: hatake-weather-station, field: upland-9 }
  - { id: wx-1, kit: hatake-soil-prob, field: upland-1 }
  - { id: soil-3, kit: hatake-soil-probe, field: upland-1, calibration: { wind_speed: { offset: 1 } } }
  - { id: lora-1, kit: dragino-lse01, field: upland-1 }
  - { id: 7, kit: hatake-soil-probe }
`;

describe('manifest problems', () => {
  it('knows every code the server’s checker gives (schema, YAML, checks of its own)', () => {
    const catalogue = loadCatalogue();
    const codes = new Set<string>();
    for (const text of [WRONG, 'farm: [unclosed', 'fields: {}\n', 'farm: &a [*a']) {
      const { problems } = checkUpload(text, {}, catalogue);
      expect(problems.length, text).toBeGreaterThan(0);
      for (const p of problems) codes.add(p.code);
    }
    const { problems } = checkUpload(WRONG, {}, catalogue);
    expect(problems.length).toBeGreaterThanOrEqual(6);
    expect(problems.some((p) => p.code === 'HATAKE_E_UNKNOWN_KIT')).toBe(true);
    expect([...codes].filter((c) => !isKnownProblemCode(c))).toEqual([]);
    expect([...codes].sort()).toEqual([...MANIFEST_PROBLEM_CODES].sort());
  });

  it('says what is wrong in Japanese by the code, and where: line and column, or the whole file', () => {
    const kit = { code: 'HATAKE_E_UNKNOWN_KIT', line: 12, column: 10 };
    expect(problemText(kit, ja)).toBe('キット一覧にないキットです。キット名を確認してください');
    expect(problemText(kit, en)).toBe('This kit is not in the kit catalogue: check its name');
    expect(problemPlace(kit, ja)).toBe('12行目 10列');
    expect(problemPlace(kit, en)).toBe('line 12, column 10');
    expect(problemPlace({ line: 3, column: null }, ja)).toBe('3行目 1列');
    expect(problemPlace({ line: null, column: null }, ja)).toBe('ファイル全体');
    expect(problemText({ code: 'HATAKE_E_CONFIG' }, ja)).toBe(ja('manifestProblem_HATAKE_E_CONFIG'));
    for (const code of MANIFEST_PROBLEM_CODES) expect(problemText({ code }, ja)).toMatch(/[\u3040-\u30ff]/);
  });

  it('reads a code it does not know as a problem of the manifest (the page shows the code beside it)', () => {
    expect(isKnownProblemCode('HATAKE_E_SOMETHING_NEW')).toBe(false);
    expect(problemText({ code: 'HATAKE_E_SOMETHING_NEW' }, ja)).toBe('マニフェストに問題があります');
    expect(problemText({ code: 'HATAKE_E_SOMETHING_NEW' }, en)).toBe('The manifest has a problem');
  });
});
