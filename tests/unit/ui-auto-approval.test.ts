// The auto-approval form's logic (dashboard/ui/auto-approval.ts): its bounds are the API's own
// (AutoApprovalBody), the ceiling is typed in kg N/10a in Japanese and kg N/ha in English and sent
// in kg N/ha, each problem reads in the reader's language, and the body is what the route takes.
import { describe, expect, it } from 'vitest';
import { AutoApprovalBody } from '../../protocol/review.ts';
import { validator } from '../../protocol/validate.ts';
import {
  CEILING_KG_HA,
  MODEL_PATTERN,
  REASON_LENGTH,
  ceilingKgHa,
  checkPolicy,
  draftOf,
  modelChoices,
  modelId,
  policyBody,
} from '../../dashboard/ui/auto-approval.ts';
import { translate } from '../../dashboard/ui/i18n.ts';

const ja = (k: string) => translate('ja', k);
const en = (k: string) => translate('en', k);
const body = validator(AutoApprovalBody);

describe('the auto-approval form', () => {
  it('checks against the bounds of the API’s AutoApprovalBody', () => {
    const p = AutoApprovalBody.properties;
    expect(MODEL_PATTERN.source).toBe(p.model.pattern);
    expect(CEILING_KG_HA).toEqual({ min: p.maxKgNHa.minimum, max: p.maxKgNHa.maximum });
    const reason = p.reason as unknown as { minLength: number; maxLength: number };
    expect(REASON_LENGTH).toEqual({ min: reason.minLength, max: reason.maxLength });
  });

  it('reads the ceiling in the reader’s unit: kg/10a in Japanese, kg/ha in English', () => {
    expect(ceilingKgHa('12.3', 'ja')).toBe(123);
    expect(ceilingKgHa('１２．３', 'ja')).toBe(123); // typed with a Japanese input method
    expect(ceilingKgHa('123', 'en')).toBe(123);
    expect(ceilingKgHa('0.57', 'ja')).toBe(5.7);
    expect(ceilingKgHa('', 'ja')).toBeNaN();
    expect(ceilingKgHa('12 kg', 'ja')).toBeNaN();
  });

  it('starts from the farm’s policy, or from the model of the farm’s recommendations', () => {
    const policy = {
      farm: 'demo-farm',
      model: 'osu-sbnrc',
      maxKgNHa: 125,
      setBy: 'demo-farmer',
      setAt: '2026-05-01T00:00:00.000Z',
    };
    expect(draftOf(policy, [], 'ja')).toEqual({ model: 'osu-sbnrc', ceiling: '12.5', reason: '' });
    expect(draftOf(policy, [], 'en')).toEqual({ model: 'osu-sbnrc', ceiling: '125', reason: '' });
    expect(draftOf(null, ['osu-sbnrc@1.0.0'], 'ja')).toEqual({ model: 'osu-sbnrc', ceiling: '', reason: '' });
    expect(draftOf(undefined, [], 'ja').model).toBe('');
    expect(modelId('rice-pi-topdress-ndvi@1.1.0')).toBe('rice-pi-topdress-ndvi');
    expect(modelChoices(['osu-sbnrc@1.0.0', 'osu-sbnrc@1.1.0', 'Not A Model'])).toEqual([
      'osu-sbnrc',
      'osu-sbnrc@1.0.0',
      'osu-sbnrc@1.1.0',
    ]);
  });

  it('names each problem in the reader’s language, with the range in the reader’s unit', () => {
    const bad = { model: 'OSU SBNRC', ceiling: '60', reason: 'ok' };
    const jaErr = checkPolicy(bad, 'ja', ja);
    expect(jaErr.model).toBe(ja('errModel'));
    expect(jaErr.ceiling).toBe('0〜50 kg/10a の範囲で入れてください');
    expect(jaErr.reason).toBe(ja('errReasonOptional'));
    expect(checkPolicy({ ...bad, ceiling: '501' }, 'en', en).ceiling).toBe('Enter 0 to 500 kg/ha');
    expect(checkPolicy({ ...bad, ceiling: '50' }, 'en', en).ceiling).toBeUndefined();
    expect(checkPolicy({ ...bad, ceiling: '-1' }, 'ja', ja).ceiling).toBeDefined();
    expect(
      checkPolicy({ model: 'osu-sbnrc', ceiling: '12', reason: 'a\u0007b' }, 'ja', ja).reason,
    ).toBeDefined();
  });

  it('builds a body the API accepts from a draft without problems, the reason only when given', () => {
    const d = { model: ' osu-sbnrc@1.0.0 ', ceiling: '12.5', reason: '' };
    expect(checkPolicy(d, 'ja', ja)).toEqual({});
    const b = policyBody(d, 'ja');
    expect(b).toEqual({ model: 'osu-sbnrc@1.0.0', maxKgNHa: 125 });
    expect(body.check(b)).toBe(true);
    const withReason = policyBody(
      { model: 'osu-sbnrc', ceiling: '140', reason: '  組合で合意した上限\n' },
      'en',
    );
    expect(withReason).toEqual({ model: 'osu-sbnrc', maxKgNHa: 140, reason: '組合で合意した上限' });
    expect(body.check(withReason)).toBe(true);
  });
});
