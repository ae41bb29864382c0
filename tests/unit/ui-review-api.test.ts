// What the officer's review page lets an officer send is what the API takes (dashboard/ui/review-api.ts):
// a reason or an approval's note counted as the API counts it (code points) with the control
// characters it refuses (a pasted tab) sent as spaces, and a zone's rate read from its box (full-width
// digits too) within EditBody's bounds — each checked against the API's own schemas.
import Fastify from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApproveBody, EditBody, Reason, RejectBody } from '../../protocol/review.ts';
import {
  EDIT_KG_HA,
  REASON_LENGTH,
  reasonLength,
  reasonState,
  reasonText,
  typedRate,
} from '../../dashboard/ui/review-api.ts';
import { checkPolicy } from '../../dashboard/ui/auto-approval.ts';
import { translate } from '../../dashboard/ui/i18n.ts';

// The bodies checked as the server checks them: Fastify's own validator (Ajv, which counts a
// string's length in code points) with the server's options (dashboard/server.ts).
const app = Fastify({
  ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
});
const route = (url: string, body: TSchema) => app.post(url, { schema: { body } }, async () => ({ ok: true }));
route('/approve', ApproveBody);
route('/reject', RejectBody);
route('/edit', EditBody);
const takes = async (url: string, payload: unknown) =>
  (await app.inject({ method: 'POST', url, payload: payload as object })).statusCode === 200;
const approve = (body: unknown) => takes('/approve', body);
const reject = (body: unknown) => takes('/reject', body);
const edit = (body: unknown) => takes('/edit', body);

beforeAll(() => app.ready());
afterAll(() => app.close());

describe('the review page’s reason and note', () => {
  it('has the bounds of the API’s Reason', () => {
    const r = Reason as unknown as { minLength: number; maxLength: number };
    expect(REASON_LENGTH).toEqual({ min: r.minLength, max: r.maxLength });
    const zone = EditBody.properties.zones.items.properties.kgNHa;
    expect(EDIT_KG_HA).toEqual({ min: zone.minimum, max: zone.maximum });
  });

  it('is "ok" exactly when the API takes it as an approval’s note and a rejection’s reason', async () => {
    const samples = [
      '',
      '  ',
      'OK',
      '了承',
      ' OK ',
      '可です',
      'OK\t確認済み',
      '\t\tab',
      '𠮷野',
      '𠮷野家',
      'a\r\nb',
      'x'.repeat(3),
    ];
    for (const raw of samples) {
      const state = reasonState(raw);
      const text = reasonText(raw);
      const note = await approve(text ? { note: text, revision: 1 } : { revision: 1 });
      const why = await reject({ reason: text, revision: 1 });
      // An approval goes with no note when the box is empty; a short one the API refuses.
      expect(note, JSON.stringify(raw)).toBe(state !== 'short');
      expect(why, JSON.stringify(raw)).toBe(state === 'ok');
    }
  });

  it('sends a tab pasted from a spreadsheet as a space, and counts a kanji outside the BMP as one', () => {
    expect(reasonText(' OK\t確認済み \n')).toBe('OK 確認済み');
    expect(reasonText('行1\r\n行2')).toBe('行1\r\n行2');
    expect(reasonLength('𠮷野')).toBe(2);
    expect(reasonState('𠮷野')).toBe('short');
    expect(reasonState('OK')).toBe('short');
    expect(reasonState('  ')).toBe('empty');
    expect(reasonState('了承です')).toBe('ok');
  });
});

describe('the auto-approval form’s reason', () => {
  it('is counted as the API counts it: "𠮷野" is two characters, refused', () => {
    const t = (k: string) => translate('ja', k);
    const draft = { model: 'osu-sbnrc', ceiling: '5' };
    expect(checkPolicy({ ...draft, reason: '𠮷野' }, 'ja', t).reason).toBe(t('errReasonOptional'));
    expect(checkPolicy({ ...draft, reason: '𠮷野家' }, 'ja', t).reason).toBeUndefined();
  });
});

describe('a zone’s rate as typed', () => {
  it('reads kg/10a in Japanese and kg/ha in English, full-width digits too', () => {
    expect(typedRate('3.91', 10)).toEqual({ kgNHa: 39.1 });
    expect(typedRate('３．９１', 10)).toEqual({ kgNHa: 39.1 });
    expect(typedRate('39.1', 1)).toEqual({ kgNHa: 39.1 });
    expect(typedRate(' 0 ', 10)).toEqual({ kgNHa: 0 });
    expect(typedRate('', 10)).toBeNull();
  });

  it('names what the API would refuse: beyond EditBody’s bounds, or not a number', () => {
    expect(typedRate('300', 10)).toEqual({ problem: 'range' }); // 3000 kg N/ha
    expect(typedRate('100', 10)).toEqual({ kgNHa: 1000 });
    expect(typedRate('1000.5', 1)).toEqual({ problem: 'range' });
    expect(typedRate('-1', 10)).toEqual({ problem: 'range' });
    expect(typedRate('1e', 10)).toEqual({ problem: 'number' });
    expect(typedRate('1,5', 10)).toEqual({ problem: 'number' });
    // A number box the browser could not read reports an empty value and badInput.
    expect(typedRate('', 10, true)).toEqual({ problem: 'number' });
  });

  it('sends only what EditBody takes', async () => {
    for (const text of ['0', '3.91', '100', '100.01', '-0.1', '12', '１２'])
      for (const per of [1, 10]) {
        const read = typedRate(text, per);
        const ok = await edit({
          zones: [{ zone: 'z1', kgNHa: read && 'kgNHa' in read ? read.kgNHa : Number(text) * per }],
          reason: '理由です',
        });
        expect(read !== null && 'kgNHa' in read, `${text} × ${per}`).toBe(ok);
      }
  });
});
