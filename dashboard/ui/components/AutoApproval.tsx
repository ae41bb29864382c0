// A farm's auto-approval opt-in (PUT / DELETE /api/v1/farms/{farm}/auto-approval; docs/review.md):
// what is set, a form to set or change it, and a way out — each asked for confirmation first, the
// server's refusals shown as every page shows them (ErrorBox, errorMessage). The server allows the
// farm's farmer, the officers of its region and admins, so it sits on the farmer's recommendations
// page and on the officer's review of one of the farm's recommendations.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AutoApprovalPolicy } from '../../../protocol/review.ts';
import { ApiError } from '../api.ts';
import {
  ceilingKgHa,
  ceilingUnit,
  checkPolicy,
  draftOf,
  modelChoices,
  policyBody,
  type PolicyDraft,
  type PolicyErrors,
} from '../auto-approval.ts';
import { fmtTime } from '../format.ts';
import { useI18n } from '../i18n.ts';
import { reviewApi } from '../review-api.ts';
import { ErrorBox, FieldError, Loading, Rate, Section, fill, useLoad } from './common.tsx';

/** The model list's last choice: type another model in (no model id has a space). */
const OTHER_MODEL = ' other';

export function AutoApproval({
  farm,
  models,
  onChange,
}: {
  farm: string;
  /** Model references (id@version) to suggest: the farm's recommendations'. */
  models: readonly string[];
  /** Called after the policy was set or removed (the page may show the audit again). */
  onChange?: () => void;
}) {
  const { t, lang } = useI18n();
  const p = useLoad(() => reviewApi.autoApproval(farm), `auto-approval/${farm}`);
  /** What the reader typed; null: the form shows the farm's policy (or the first suggested model). */
  const [draft, setDraft] = useState<PolicyDraft | null>(null);
  const [errors, setErrors] = useState<PolicyErrors>({});
  const [confirm, setConfirm] = useState<'' | 'set' | 'remove'>('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');
  /** The reader chose to type a model the farm's recommendations do not name. */
  const [typing, setTyping] = useState(false);
  const opener = useRef<HTMLButtonElement | null>(null);
  const keep = useRef<HTMLButtonElement>(null);
  const policy: AutoApprovalPolicy | null | undefined = p.data;
  const d = draft ?? draftOf(policy, models, lang);
  const id = `aa-${farm}`;
  // The ceiling is typed in the reader's unit: another language starts the form again.
  useEffect(() => {
    setDraft(null);
    setTyping(false);
    setErrors({});
  }, [lang]);

  const edit = (k: keyof PolicyDraft, v: string) => {
    setDraft({ ...d, [k]: v });
    // The field's problem goes with the edit; the check runs again on the next try.
    if (errors[k]) setErrors({ ...errors, [k]: undefined });
    setDone('');
    if (confirm === 'set') setConfirm('');
  };
  const ask = (what: 'set' | 'remove', button: HTMLButtonElement) => {
    setDone('');
    setError(null);
    if (what === 'set') {
      const problems = checkPolicy(d, lang, t);
      setErrors(problems);
      const first = (['model', 'ceiling', 'reason'] as const).find((k) => problems[k]);
      if (first) {
        document.getElementById(`${id}-${first}`)?.focus();
        return;
      }
    }
    opener.current = button;
    setConfirm(what);
    // The safe choice takes the focus: a second Enter or tap changes nothing.
    setTimeout(() => keep.current?.focus(), 0);
  };
  const cancel = () => {
    setConfirm('');
    setError(null);
    setTimeout(() => opener.current?.focus(), 0);
  };
  const run = async () => {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      if (confirm === 'set') {
        p.set(await reviewApi.setAutoApproval(farm, policyBody(d, lang)));
        setDone(t('autoApprovalSaved'));
      } else {
        await reviewApi.removeAutoApproval(farm);
        p.set(null);
        setDone(t('autoApprovalRemoved'));
      }
      setDraft(null);
      setTyping(false);
      setConfirm('');
      setTimeout(() => opener.current?.focus(), 0);
      onChange?.();
    } catch (e) {
      // Removed elsewhere meanwhile: say so (errorMessage's 見つかりません), and show the farm as it is.
      if (e instanceof ApiError && e.status === 404 && confirm === 'remove') {
        setConfirm('');
        p.reload();
      }
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const suggestions = modelChoices(models);
  // The farm's models to choose from (its policy's first): a list a phone shows, where a datalist
  // hides its suggestions behind a text box; another model is typed in.
  const options =
    policy && !suggestions.includes(policy.model) ? [policy.model, ...suggestions] : suggestions;
  const choosing = options.length > 0 && !typing && (d.model === '' || options.includes(d.model));
  const optionText = (m: string) =>
    (m.includes('@') ? t('autoApprovalThisVersion') : t('autoApprovalAnyVersion')).replace(
      '{model}',
      () => m,
    );
  const unit = ceilingUnit(lang);
  const ceilingKg = ceilingKgHa(d.ceiling, lang);
  return (
    <Section title={t('autoApproval')} id={`${id}-h`}>
      <div data-testid="auto-approval">
        <p class="muted">{t('autoApprovalHelp')}</p>
        {p.firstLoading ? <Loading /> : null}
        <ErrorBox error={p.error} />
        {policy === null ? (
          <p data-testid="auto-approval-state">{t('autoApprovalNone')}</p>
        ) : policy ? (
          <div data-testid="auto-approval-state">
            <p class="ok">{t('autoApprovalOn')}</p>
            <dl class="dl">
              <dt>{t('autoApprovalModel')}</dt>
              <dd>
                <code translate={false}>{policy.model}</code>
              </dd>
              <dt>{t('autoApprovalCeiling')}</dt>
              <dd>
                <Rate kgHa={policy.maxKgNHa} />
              </dd>
              <dt>{t('autoApprovalSetBy')}</dt>
              <dd>
                <span translate={false}>{policy.setBy}</span> · {fmtTime(policy.setAt, lang)}
              </dd>
            </dl>
          </div>
        ) : null}
        {policy !== undefined ? (
          <form
            noValidate
            onSubmit={(e) => {
              e.preventDefault();
              ask('set', (e.currentTarget as HTMLFormElement).querySelector('button[type="submit"]')!);
            }}
          >
            <label for={`${id}-model`}>{t('autoApprovalModel')}</label>
            <p class="muted hint" id={`${id}-model-hint`}>
              {t('autoApprovalModelHint')}
            </p>
            {choosing ? (
              <select
                id={`${id}-model`}
                value={d.model}
                aria-invalid={errors.model ? true : undefined}
                aria-describedby={`${id}-model-hint${errors.model ? ` ${id}-model-err` : ''}`}
                onChange={(e) => {
                  const v = (e.target as HTMLSelectElement).value;
                  if (v === OTHER_MODEL) {
                    setTyping(true);
                    edit('model', '');
                    setTimeout(() => document.getElementById(`${id}-model`)?.focus(), 0);
                  } else edit('model', v);
                }}
              >
                {options.map((m) => (
                  <option key={m} value={m}>
                    {optionText(m)}
                  </option>
                ))}
                <option value={OTHER_MODEL}>{t('autoApprovalOtherModel')}</option>
              </select>
            ) : (
              <input
                id={`${id}-model`}
                list={`${id}-models`}
                autoCapitalize="off"
                spellcheck={false}
                maxLength={80}
                translate={false}
                value={d.model}
                aria-invalid={errors.model ? true : undefined}
                aria-describedby={`${id}-model-hint${errors.model ? ` ${id}-model-err` : ''}`}
                onInput={(e) => edit('model', (e.target as HTMLInputElement).value)}
              />
            )}
            <datalist id={`${id}-models`}>
              {suggestions.map((m) => (
                <option key={m} value={m} />
              ))}
            </datalist>
            <FieldError id={`${id}-model-err`} message={errors.model} />
            <label for={`${id}-ceiling`}>
              {t('autoApprovalCeiling')} (<span translate={false}>{unit}</span>)
            </label>
            <input
              id={`${id}-ceiling`}
              inputMode="decimal"
              maxLength={16}
              value={d.ceiling}
              aria-invalid={errors.ceiling ? true : undefined}
              aria-describedby={errors.ceiling ? `${id}-ceiling-err` : undefined}
              onInput={(e) => edit('ceiling', (e.target as HTMLInputElement).value)}
            />
            <FieldError id={`${id}-ceiling-err`} message={errors.ceiling} />
            <label for={`${id}-reason`}>{t('reasonOptional')}</label>
            <textarea
              id={`${id}-reason`}
              rows={2}
              maxLength={1000}
              value={d.reason}
              aria-invalid={errors.reason ? true : undefined}
              aria-describedby={errors.reason ? `${id}-reason-err` : undefined}
              onInput={(e) => edit('reason', (e.target as HTMLTextAreaElement).value)}
            />
            <FieldError id={`${id}-reason-err`} message={errors.reason} />
            <div class="actions">
              <button type="submit" class="primary" disabled={busy || confirm !== ''}>
                {policy ? t('autoApprovalChange') : t('autoApprovalSet')}
              </button>
              {policy ? (
                <button
                  type="button"
                  class="danger"
                  disabled={busy || confirm !== ''}
                  onClick={(e) => ask('remove', e.currentTarget)}
                >
                  {t('autoApprovalRemove')}
                </button>
              ) : null}
            </div>
          </form>
        ) : null}
        {confirm ? (
          <div class="confirm" role="group" aria-labelledby={`${id}-q`} data-testid="auto-approval-confirm">
            <p id={`${id}-q`} class="warn">
              {confirm === 'set'
                ? fill(t('autoApprovalSetConfirm'), {
                    model: <code translate={false}>{d.model.trim()}</code>,
                    rate: <Rate kgHa={ceilingKg} />,
                  })
                : t('autoApprovalRemoveConfirm')}
            </p>
            <ErrorBox error={error} />
            <div class="actions">
              <button
                type="button"
                class={confirm === 'set' ? 'primary' : 'danger'}
                disabled={busy}
                onClick={() => void run()}
              >
                {confirm === 'set' ? t('autoApprovalSetYes') : t('autoApprovalRemoveYes')}
              </button>
              <button type="button" ref={keep} onClick={cancel}>
                {t('cancel')}
              </button>
            </div>
          </div>
        ) : (
          <ErrorBox error={error} />
        )}
        <p role="status" class="ok" data-testid="auto-approval-done">
          {done}
        </p>
      </div>
    </Section>
  );
}
