// The growth stage seen in a field (GET / PUT / DELETE /api/v1/farms/{farm}/fields/{field}/stage;
// protocol/field-stage.ts): which stage the gateway's rules take now — recorded here, or written in
// the manifest's field, for 21 days after the day it was seen — or that they estimate it from the
// accumulated temperature (GDD); a form to record what was seen, a way to withdraw it, and the
// field's record. Farmers, extension officers and admins record; an IT partner only reads. The
// server's refusals are shown as every page shows them (ErrorBox, errorMessage).
import { useState } from 'preact/hooks';
import { DECLARED_STAGE_DAYS, type FieldStageView } from '../../../protocol/field-stage.ts';
import { dateToDay, dayToDate } from '../../../edge/rules/local-time.ts';
import { ApiError, api } from '../api.ts';
import { fmtDate, fmtTime } from '../format.ts';
import { cropName, useI18n, type Lang } from '../i18n.ts';
import { ErrorBox, Loading, Section, fill, useLoad } from './common.tsx';

const enc = encodeURIComponent;

/** The roles the server lets record a stage (dashboard/features/field-views.ts, STAGE_RECORDERS). */
export const STAGE_RECORDERS: readonly string[] = ['farmer', 'officer', 'admin'];

/** A calendar day (YYYY-MM-DD) moved by `days`, with the rules' day arithmetic. */
export const addDays = (day: string, days: number): string => dayToDate(dateToDay(day)! + days);

/** The days a stage may be dated: the last DECLARED_STAGE_DAYS up to today, none before planting. */
export function stageDays(today: string, plantingDate: string | null): { min: string; max: string } {
  const earliest = addDays(today, -DECLARED_STAGE_DAYS);
  return { min: plantingDate && plantingDate > earliest ? plantingDate : earliest, max: today };
}

/** A calendar day as the reader writes it (a day, not an instant: no time zone moves it). */
const fmtDay = (day: string, lang: Lang) => fmtDate(`${day}T00:00:00Z`, lang, 'UTC');

/** A stage's name in the reader's language (English capitalised, as crop names are). */
function nameIn(name: { ja: string; en: string }, lang: Lang): string {
  const s = name[lang];
  return lang === 'en' ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

interface Draft {
  stage: string;
  date: string;
  note: string;
}

/** `canRecord`: the reader's role may record (the server refuses the others; they only read). */
export function FieldStage({ farm, field, canRecord }: { farm: string; field: string; canRecord: boolean }) {
  const { t, lang } = useI18n();
  const path = `/api/v1/farms/${enc(farm)}/fields/${enc(field)}/stage`;
  const view = useLoad(() => api<FieldStageView>(path), `${farm}/${field}/stage`);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  /** What the last action did, worded in the language the page is read in now. */
  const [done, setDone] = useState<'' | 'recorded' | 'withdrawn'>('');
  const id = `stage-${field}`;
  const v = view.data;

  const stageName = (stage: string) => {
    const s = v?.stages.find((x) => x.id === stage);
    return s ? nameIn(s.name, lang) : <span translate={false}>{stage}</span>;
  };
  const roleName = (role: string) =>
    role === 'farmer' ? (
      t('roleFarmer')
    ) : role === 'officer' ? (
      t('roleOfficer')
    ) : role === 'partner' ? (
      t('rolePartner')
    ) : role === 'admin' ? (
      t('roleAdmin')
    ) : (
      <span translate={false}>{role}</span>
    );

  const send = async (method: 'PUT' | 'DELETE', body?: Draft) => {
    if (busy) return;
    setBusy(true);
    setError(null);
    setDone('');
    try {
      const note = body?.note.trim();
      const next = await api<FieldStageView>(path, {
        method,
        body: body ? { stage: body.stage, date: body.date, ...(note ? { note } : {}) } : undefined,
      });
      view.set(next);
      setDraft(null);
      setDone(method === 'PUT' ? 'recorded' : 'withdrawn');
    } catch (e) {
      // Withdrawn elsewhere meanwhile: say so, and show the field as it is.
      if (e instanceof ApiError && e.status === 409) view.reload();
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const body = () => {
    if (!v) return view.firstLoading ? <Loading /> : null;
    const crop = v.crop ? cropName(v.crop, lang) : null;
    if (!v.profile)
      return (
        <p class="muted" data-testid="stage-no-profile">
          {crop
            ? fill(t('fieldStageNoProfile'), { crop: <span translate={false}>{crop}</span> })
            : t('fieldStageNoCrop')}
        </p>
      );
    const inEffect = v.inEffect;
    const current = v.history[0]?.current ? v.history[0] : undefined;
    const days = stageDays(v.today, v.plantingDate);
    const fallback = v.stages.some((s) => s.id === inEffect?.stage) ? inEffect!.stage : v.stages[0]!.id;
    const d: Draft = draft ?? { stage: fallback, date: v.today, note: '' };
    const bad = error instanceof ApiError ? error.pointer : undefined;
    const edit = (k: keyof Draft, value: string) => {
      setDraft({ ...d, [k]: value });
      setDone('');
    };
    return (
      <>
        <p class="muted">{fill(t('fieldStageHelp'), { days: DECLARED_STAGE_DAYS })}</p>
        {inEffect ? (
          <dl class="dl" data-testid="stage-in-effect">
            <dt>{t('fieldStageNow')}</dt>
            <dd>
              <strong>
                {inEffect.name ? (
                  nameIn(inEffect.name, lang)
                ) : (
                  <span translate={false}>{inEffect.stage}</span>
                )}
              </strong>
            </dd>
            <dt>{t('fieldStageSeen')}</dt>
            <dd>{fmtDay(inEffect.date, lang)}</dd>
            <dt>{t('fieldStageUntil')}</dt>
            <dd>{fmtDay(inEffect.until, lang)}</dd>
            <dt>{t('fieldStageSource')}</dt>
            <dd>
              {inEffect.source === 'recorded' ? t('fieldStageRecordedHere') : t('fieldStageFromManifest')}
            </dd>
          </dl>
        ) : (
          <p data-testid="stage-in-effect">
            <strong>{t('fieldStageNone')}</strong>
          </p>
        )}
        {canRecord ? (
          <form
            noValidate
            data-testid="stage-form"
            onSubmit={(e) => {
              e.preventDefault();
              void send('PUT', d);
            }}
          >
            <label>
              {t('fieldStage')}
              <select
                id={`${id}-stage`}
                value={d.stage}
                aria-invalid={bad === '/stage' ? true : undefined}
                aria-describedby={bad === '/stage' ? `${id}-err` : undefined}
                onChange={(e) => edit('stage', (e.target as HTMLSelectElement).value)}
              >
                {v.stages.map((s) => (
                  <option key={s.id} value={s.id}>
                    {nameIn(s.name, lang)}
                  </option>
                ))}
              </select>
            </label>
            <label>
              {t('fieldStageSeen')}
              <input
                id={`${id}-date`}
                type="date"
                value={d.date}
                min={days.min}
                max={days.max}
                required
                aria-invalid={bad === '/date' ? true : undefined}
                aria-describedby={`${id}-date-hint${bad === '/date' ? ` ${id}-err` : ''}`}
                onInput={(e) => edit('date', (e.target as HTMLInputElement).value)}
              />
            </label>
            <p class="muted hint" id={`${id}-date-hint`}>
              {fill(t('fieldStageDateHint'), { from: fmtDay(days.min, lang), to: fmtDay(days.max, lang) })}
            </p>
            <label>
              {t('fieldStageNote')}
              <input
                id={`${id}-note`}
                type="text"
                maxLength={200}
                value={d.note}
                placeholder={t('fieldStageNotePlaceholder')}
                onInput={(e) => edit('note', (e.target as HTMLInputElement).value)}
              />
            </label>
            <div id={`${id}-err`}>
              <ErrorBox error={error} />
            </div>
            <div class="actions">
              <button type="submit" class="primary" disabled={busy}>
                {t('fieldStageRecord')}
              </button>
              {current ? (
                <button type="button" class="danger" disabled={busy} onClick={() => void send('DELETE')}>
                  {t('fieldStageWithdraw')}
                </button>
              ) : null}
            </div>
          </form>
        ) : (
          <p class="muted" data-testid="stage-read-only">
            {t('fieldStageReadOnly')}
          </p>
        )}
        <p role="status" class="ok" data-testid="stage-done">
          {done === 'recorded'
            ? t('fieldStageRecordedDone')
            : done === 'withdrawn'
              ? t('fieldStageWithdrawnDone')
              : ''}
        </p>
        <h3>{t('fieldStageHistory')}</h3>
        {v.history.length === 0 ? (
          <p class="muted">{t('noLog')}</p>
        ) : (
          <ol class="log" data-testid="stage-history">
            {v.history.map((h) => (
              <li key={h.at + h.stage}>
                <strong>{stageName(h.stage)}</strong> · {t('fieldStageSeen')} {fmtDay(h.date, lang)}
                {h === current ? <span class="ok"> · {t('fieldStageCurrent')}</span> : null}
                <br />
                <span class="muted">
                  {fill(t('fieldStageBy'), {
                    who: <span translate={false}>{h.by}</span>,
                    role: roleName(h.role),
                  })}
                  {' · '}
                  {fill(t('fieldStageRecordedAt'), { time: fmtTime(h.at, lang, v.timezone) })}
                </span>
                {h.note ? (
                  <>
                    <br />
                    <span translate={false}>{h.note}</span>
                  </>
                ) : null}
              </li>
            ))}
          </ol>
        )}
      </>
    );
  };

  return (
    <Section title={t('fieldStage')} id={`${id}-h`}>
      <div data-testid="field-stage">
        <ErrorBox error={view.error} />
        {body()}
      </div>
    </Section>
  );
}
