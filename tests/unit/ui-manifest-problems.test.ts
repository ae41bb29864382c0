// Manifest problems on the partner's provisioning page (dashboard/ui/manifest-problems.ts): the
// server's checker writes them in English; the page says what is wrong in the reader's language by
// the problem's code, where it is, and keeps the server's text as the detail. The list of codes
// the page knows is held to what the real checker gives, over a manifest with one of each mistake,
// and each of those mistakes reads as a sentence of its own, not the general one.
import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import {
  MANIFEST_PROBLEM_CODES as CHECKER_CODES,
  checkManifest,
} from '../../firmware-config/manifest-check.ts';
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
const catalogue = loadCatalogue();

/** One of each mistake the checker knows that the upload route lets through to it. */
const WRONG = `farm: { id: demo-farm, name: はたけデモ農場, timezone: Mars/Olympus, colour: green }
fields:
  - id: upland-1
    name: 畑1号
    plantingDate: 2999-04-01
    boundary:
      type: Polygon
      coordinates: [[[138.9020, 37.8000], [138.9035, 37.8000], [138.9035, 37.8010], [138.9020, 37.8010], [138.9020, 37.8000]]]
  - { id: upland-1, name: 畑2号, boundary: missing.geojson }
  - id: upland-2
    name: 畑3号
    boundary: { type: Polygon, coordinates: [[[138.90, 37.80], [138.91, 37.80], [138.91, 37.81], [138.90, 37.81]]] }
  - id: upland-3
    name: 畑4号
    boundary: { type: Polygon, coordinates: [[[138.9020, 37.8000], [138.9035, 37.8010], [138.9035, 37.8000], [138.9020, 37.8010], [138.9020, 37.8000]]] }
  - { id: upland-4, name: 畑5号, boundary: { type: Polygn, coordinates: [] } }
  - { id: Upland-5, name: 畑6号 }
  - { id: upland-6, name: "" }
  - { id: upland-7, crop: corn, model: { id: osu-sbnrk }, profile: rice-koshihikari }
devices:
  - { id: wx-1, kit: hatake-weather-station, field: upland-9 }
  - { id: wx-1, kit: hatake-soil-prob, field: upland-1 }
  - { id: soil-3, kit: hatake-soil-probe, field: upland-1, calibration: { wind_speed: [0, 1] } }
  - { id: soil-4, kit: hatake-soil-probe, field: upland-1, position: [138.95, 37.80] }
  - { id: lora-1, kit: dragino-lse01, field: upland-1 }
  - { id: 7, kit: hatake-soil-probe }
`;

/** Mistakes that stop the check before the schema: YAML the checker cannot read, a file too large. */
const UNREADABLE = [
  'farm: [unclosed',
  'farm: { id: f1, name: F }\nfarm: { id: f2, name: G }\n',
  'farm: &a [*a',
  '<<: *missing\n',
  `# ${'x'.repeat(5 * 1024 * 1024)}\n`,
];

describe('manifest problems', () => {
  it('says every problem of the one-of-each manifest with a sentence of its own kind, at its line', () => {
    const { manifest, problems } = checkUpload(WRONG, {}, catalogue);
    expect(manifest).toBeUndefined();
    expect(problems.length).toBeGreaterThanOrEqual(19);
    const general = [ja('manifestProblem_HATAKE_E_CONFIG'), ja('manifestProblemOther')];
    const generalEn = [en('manifestProblem_HATAKE_E_CONFIG'), en('manifestProblemOther')];
    for (const p of problems) {
      const what = `${p.line}:${p.column} ${p.code} ${p.message}`;
      expect(p.code, what).not.toBe('HATAKE_E_CONFIG');
      expect(isKnownProblemCode(p.code), what).toBe(true);
      expect(general, what).not.toContain(problemText(p, ja));
      expect(generalEn, what).not.toContain(problemText(p, en));
      expect(problemText(p, ja), what).toMatch(/[\u3040-\u30ff]/);
      expect(p.line, what).toEqual(expect.any(Number));
    }
    const byCode = (code: string) => problems.filter((p) => p.code === code).map((p) => [p.line, p.message]);
    // A few, pinned to their line: the page shows them beside the text the partner wrote.
    expect(byCode('HATAKE_E_MANIFEST_TIMEZONE')).toEqual([[1, 'time zone "Mars/Olympus" is not known']]);
    expect(byCode('HATAKE_E_MANIFEST_UNKNOWN_KEY')).toEqual([[1, '/farm/colour: Unexpected property']]);
    expect(byCode('HATAKE_E_MANIFEST_DUPLICATE_ID')).toEqual([
      [9, 'field id "upland-1" is used twice'],
      [22, 'device id "wx-1" is used twice'],
    ]);
    expect(byCode('HATAKE_E_MANIFEST_OUTSIDE_FIELD')).toEqual([
      [24, 'position [138.95, 37.8] is outside the boundary of field "upland-1"'],
    ]);
    expect(byCode('HATAKE_E_MANIFEST_DEVEUI')).toEqual([[25, 'LoRaWAN device "lora-1" has no devEui']]);
  });

  it('knows exactly the codes the checker gives, every one met in the one-of-each manifest or an unreadable file', () => {
    const codes = new Set(checkUpload(WRONG, {}, catalogue).problems.map((p) => p.code));
    for (const text of UNREADABLE) {
      const { problems } = checkManifest('manifest.yaml', text, { catalogue });
      expect(problems.length, text.slice(0, 40)).toBeGreaterThan(0);
      for (const p of problems) codes.add(p.code);
    }
    expect([...codes].sort()).toEqual([...CHECKER_CODES].sort());
    // The page's list (kept out of the checker's bundle) is the checker's, and the upload route's
    // own HATAKE_E_CONFIG for a boundary path it refuses before checking.
    expect([...MANIFEST_PROBLEM_CODES].sort()).toEqual([...CHECKER_CODES, 'HATAKE_E_CONFIG'].sort());
    // Whatever the upload route answers (its own refusals and what it reads before the checker), the page knows it.
    const split = WRONG.replace(
      'boundary: missing.geojson',
      'boundary: "boundaries/\n      missing.geojson"',
    );
    const upload = new Set<string>();
    for (const text of [...UNREADABLE, split, 'fields: {}\n']) {
      const { problems } = checkUpload(text, {}, catalogue);
      expect(problems.length, text.slice(0, 40)).toBeGreaterThan(0);
      for (const p of problems) upload.add(p.code);
    }
    expect(upload).toContain('HATAKE_E_CONFIG');
    expect([...upload].filter((c) => !isKnownProblemCode(c))).toEqual([]);
  });

  it('gives each code a sentence of its own in both languages', () => {
    for (const t of [ja, en]) {
      const sentences = MANIFEST_PROBLEM_CODES.map((code) => problemText({ code }, t));
      expect(new Set(sentences).size).toBe(sentences.length);
      expect(sentences.filter((s) => s.startsWith('manifestProblem'))).toEqual([]);
    }
    for (const code of MANIFEST_PROBLEM_CODES) expect(problemText({ code }, ja)).toMatch(/[\u3040-\u30ff]/);
  });

  it('says what is wrong in Japanese by the code, and where: line and column, or the whole file', () => {
    const kit = { code: 'HATAKE_E_UNKNOWN_KIT', line: 12, column: 10 };
    expect(problemText(kit, ja)).toBe('キット一覧にないキットです。キット名を確認してください');
    expect(problemText(kit, en)).toBe('This kit is not in the kit catalogue: check its name');
    expect(problemText({ code: 'HATAKE_E_MANIFEST_RING_OPEN' }, ja)).toBe(
      '境界が閉じていません。最後の座標を最初の座標と同じにしてください',
    );
    expect(problemText({ code: 'HATAKE_E_MANIFEST_DUPLICATE_ID' }, en)).toBe(
      'This id or DevEUI is already used: make each one different',
    );
    expect(problemPlace(kit, ja)).toBe('12行目 10列');
    expect(problemPlace(kit, en)).toBe('line 12, column 10');
    expect(problemPlace({ line: 3, column: null }, ja)).toBe('3行目 1列');
    expect(problemPlace({ line: null, column: null }, ja)).toBe('ファイル全体');
    expect(problemText({ code: 'HATAKE_E_CONFIG' }, ja)).toBe('この箇所の書き方か値に誤りがあります');
  });

  it('reads a code it does not know as a problem of the manifest (the page shows the code beside it)', () => {
    expect(isKnownProblemCode('HATAKE_E_SOMETHING_NEW')).toBe(false);
    expect(problemText({ code: 'HATAKE_E_SOMETHING_NEW' }, ja)).toBe('マニフェストに問題があります');
    expect(problemText({ code: 'HATAKE_E_SOMETHING_NEW' }, en)).toBe('The manifest has a problem');
  });
});
