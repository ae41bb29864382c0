// The farmer's automation form and how an automation reads in a list: pickers for what the farm
// has (sensors and the metrics they read, actuators and their kit's commands with each parameter
// the kit defines), values in the units farmers use (soil moisture in %, water level in cm,
// durations in minutes), checks beside each field that mirror the schema and the kit's ranges so
// most mistakes show before saving — the server stays the authority, and what it refuses is shown
// beside the form, the field it names marked. The logic is in ../automation-draft.ts.
import { Fragment } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DeviceView } from '../../../protocol/api.ts';
import type { KitSummary } from '../../../protocol/views.ts';
import type { AutomationView } from '../../../protocol/review.ts';
import type { ActuatorCommand } from '../../../protocol/automation.ts';
import { isMetricName } from '../../../protocol/metrics.ts';
import { ApiError } from '../api.ts';
import { useI18n, type Lang } from '../i18n.ts';
import { kitMetricNames, localUnit, metricName, metricNamesOf, triggerParts } from '../format.ts';
import { reviewApi } from '../review-api.ts';
import { ErrorBox, FieldError } from '../components/common.tsx';
import {
  LIMIT_BOUNDS,
  MINUTES_PARAM,
  checkDraft,
  commandName,
  commandOf,
  draftBody,
  draftOf,
  fieldOfPointer,
  knownCommand,
  limitDefaults,
  paramValue,
  preferredCommand,
  type CommandDraft,
  type Draft,
  type Errors,
  type FarmChoices,
  type Op,
  type Slot,
} from '../automation-draft.ts';

/** aria-invalid and aria-describedby of a control whose field has a problem. */
const invalid = (id: string, message: string | undefined) =>
  message ? { 'aria-invalid': true as const, 'aria-describedby': `${id}-err` } : {};

const inputValue = (e: Event) => (e.currentTarget as HTMLInputElement | HTMLSelectElement).value;

function CommandFields({
  id,
  slot,
  legend,
  value,
  onChange,
  choices,
  optional,
  errorOf,
}: {
  id: string;
  slot: Slot;
  legend: string;
  value: CommandDraft;
  onChange: (c: CommandDraft) => void;
  choices: FarmChoices;
  optional: boolean;
  errorOf: (key: string) => string | undefined;
}) {
  const { t, lang } = useI18n();
  const actuator = choices.actuators.find((a) => a.id === value.device);
  const command = commandOf(choices, value);
  const err = (k: string) => errorOf(`${slot}.${k}`);
  return (
    <fieldset>
      <legend>{legend}</legend>
      <label>
        {t('actuator')}
        <select
          id={`${id}-device`}
          value={value.device}
          {...invalid(`${id}-device`, err('device'))}
          onChange={(e) => {
            const device = inputValue(e);
            const a = choices.actuators.find((x) => x.id === device);
            // The command stays when the new actuator has it too.
            const kept = a?.commands.some((k) => k.id === value.command);
            onChange({ ...value, device, command: kept ? value.command : preferredCommand(a, slot) });
          }}
        >
          {optional ? <option value="">{t('noCommand')}</option> : null}
          {!optional && !actuator ? <option value="">{t('choose')}</option> : null}
          {choices.actuators.map((a) => (
            <option key={a.id} value={a.id} translate={false}>
              {a.name}
            </option>
          ))}
        </select>
      </label>
      <FieldError id={`${id}-device-err`} message={err('device')} />
      {actuator ? (
        <>
          <label>
            {t('commandLabel')}
            <select
              id={`${id}-command`}
              value={value.command}
              {...invalid(`${id}-command`, err('command'))}
              onChange={(e) => onChange({ ...value, command: inputValue(e) })}
            >
              {actuator.commands.map((c) => (
                <option key={c.id} value={c.id} translate={knownCommand(c.id) ? undefined : false}>
                  {commandName(c.id, t)}
                </option>
              ))}
            </select>
          </label>
          <FieldError id={`${id}-command-err`} message={err('command')} />
        </>
      ) : null}
      {/* Each parameter the kit defines: the opening time by its name, others by their id. */}
      {(command?.params ?? []).map((p) => {
        const key = `params.${p.name}`;
        const pid = `${id}-param-${p.name}`;
        return (
          <Fragment key={p.name}>
            <label>
              {p.name === MINUTES_PARAM ? (
                t('openMinutes')
              ) : (
                <>
                  <span translate={false}>{p.name}</span>
                  {p.unit ? (
                    <>
                      {' '}
                      <span translate={false}>({localUnit(p.unit, lang)})</span>
                    </>
                  ) : null}
                </>
              )}
              <input
                id={pid}
                type="number"
                inputMode={p.type === 'integer' ? 'numeric' : 'decimal'}
                min={p.min}
                max={p.max}
                step={p.type === 'integer' ? 1 : 'any'}
                value={paramValue(value, p.name)}
                {...invalid(pid, err(key))}
                onInput={(e) => onChange({ ...value, params: { ...value.params, [p.name]: inputValue(e) } })}
              />
            </label>
            <FieldError id={`${pid}-err`} message={err(key)} />
          </Fragment>
        );
      })}
    </fieldset>
  );
}

export function AutomationForm({
  farm,
  choices,
  initial,
  onSaved,
  onCancel,
}: {
  farm: string;
  choices: FarmChoices;
  initial?: AutomationView;
  onSaved: (a: AutomationView) => void;
  onCancel: () => void;
}) {
  const { t, lang } = useI18n();
  const id = initial ? `af-${initial.id}` : 'af-new';
  const [draft, setDraft] = useState<Draft>(() => draftOf(initial, choices));
  const [current, setCurrent] = useState(initial);
  const [errors, setErrors] = useState<Errors>({});
  const [serverError, setServerError] = useState<unknown>(null);
  const [serverField, setServerField] = useState('');
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const form = useRef<HTMLFormElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  // After a refused save, the first field with a problem takes the focus.
  useEffect(() => {
    if (attempt) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [attempt]);

  const set = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));
  const errorOf = (key: string) =>
    (Object.hasOwn(errors, key) ? errors[key] : undefined) ??
    (serverField === key ? t('serverRefused') : undefined);
  const sensor = choices.sensors.find((s) => s.id === draft.sensor);
  const metric = sensor?.metrics.find((m) => m.id === draft.metric);
  const sensorNames = metricNamesOf(sensor?.metrics ?? []);
  const unit = metric?.unit ? (
    <>
      {' '}
      <span translate={false}>({localUnit(metric.unit, lang)})</span>
    </>
  ) : null;
  const other: Lang = lang === 'ja' ? 'en' : 'ja';
  const conflict = serverError instanceof ApiError && serverError.status === 409;

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    const problems = checkDraft(draft, choices, t);
    setErrors(problems);
    setServerError(null);
    setServerField('');
    if (Object.keys(problems).length > 0) {
      setAttempt((n) => n + 1);
      return;
    }
    const body = draftBody(draft, choices, current);
    setBusy(true);
    try {
      onSaved(
        current
          ? await reviewApi.automationUpdate(current.id, { ...body, version: current.version })
          : await reviewApi.automationCreate({ farm, ...body }),
      );
    } catch (err) {
      setServerError(err);
      if (err instanceof ApiError) setServerField(fieldOfPointer(err.pointer));
      setAttempt((n) => n + 1);
    } finally {
      setBusy(false);
    }
  };

  /** After a 409: the automation as it is now, in the form, to edit again. */
  const loadLatest = async () => {
    if (!current) return;
    try {
      const latest = await reviewApi.automation(current.id);
      setCurrent(latest);
      setDraft(draftOf(latest, choices));
      setErrors({});
      setServerError(null);
      setServerField('');
      heading.current?.focus();
    } catch (err) {
      setServerError(err);
    }
  };

  const numberField = (key: 'value' | 'low' | 'high', label: string) => (
    <div>
      <label>
        {label}
        {unit}
        <input
          id={`${id}-${key}`}
          type="number"
          inputMode="decimal"
          step="any"
          min={metric?.min}
          max={metric?.max}
          value={draft[key]}
          {...invalid(`${id}-${key}`, errorOf(key))}
          onInput={(e) => set({ [key]: inputValue(e) })}
        />
      </label>
      <FieldError id={`${id}-${key}-err`} message={errorOf(key)} />
    </div>
  );
  const intField = (key: keyof typeof LIMIT_BOUNDS, label: string) => (
    <>
      <label>
        {label}
        <input
          id={`${id}-${key}`}
          type="number"
          inputMode="numeric"
          step={1}
          min={LIMIT_BOUNDS[key].min}
          max={LIMIT_BOUNDS[key].max}
          value={draft[key]}
          {...invalid(`${id}-${key}`, errorOf(key))}
          onInput={(e) => set({ [key]: inputValue(e) })}
        />
      </label>
      <FieldError id={`${id}-${key}-err`} message={errorOf(key)} />
    </>
  );

  return (
    <form
      ref={form}
      class="automation-form"
      aria-labelledby={`${id}-h`}
      noValidate
      onSubmit={(e) => void submit(e)}
      data-testid="automation-form"
    >
      <h2 id={`${id}-h`} tabIndex={-1} ref={heading}>
        {initial ? t('editAutomation') : t('newAutomation')}
      </h2>
      <fieldset>
        <legend>{t('automationKind')}</legend>
        {(['threshold', 'band'] as const).map((k) => (
          <label class="check" key={k}>
            <input
              type="radio"
              name={`${id}-kind`}
              value={k}
              checked={draft.kind === k}
              onChange={() => setDraft((d) => ({ ...d, kind: k, ...(current ? {} : limitDefaults(k)) }))}
            />
            {k === 'threshold' ? t('kindThreshold') : t('kindBand')}
          </label>
        ))}
      </fieldset>
      <label>
        {t('automationName')}
        <input
          id={`${id}-name`}
          maxLength={200}
          value={draft.name[lang]}
          {...invalid(`${id}-name`, errorOf('name'))}
          onInput={(e) => {
            const v = inputValue(e);
            // The other language's name follows this one until the farmer writes it.
            setDraft((d) => {
              const linked = d.name[other] === '' || d.name[other] === d.name[lang];
              return { ...d, name: { ...d.name, [lang]: v, ...(linked ? { [other]: v } : {}) } };
            });
          }}
        />
      </label>
      <FieldError id={`${id}-name-err`} message={errorOf('name')} />
      <details class="other-name">
        <summary>{t('nameOtherLang')}</summary>
        <label>
          {t('nameOtherLang')}
          <input
            maxLength={200}
            lang={other}
            value={draft.name[other]}
            onInput={(e) => set({ name: { ...draft.name, [other]: inputValue(e) } })}
          />
        </label>
      </details>

      <fieldset>
        <legend>{draft.kind === 'threshold' ? t('triggerThreshold') : t('triggerBand')}</legend>
        <label>
          {t('sensorDevice')}
          <select
            id={`${id}-sensor`}
            value={draft.sensor}
            {...invalid(`${id}-sensor`, errorOf('sensor'))}
            onChange={(e) => {
              const s = choices.sensors.find((x) => x.id === inputValue(e));
              const m = s?.metrics.some((x) => x.id === draft.metric)
                ? draft.metric
                : (s?.metrics[0]?.id ?? '');
              set({ sensor: s?.id ?? '', metric: m });
            }}
          >
            {!sensor ? <option value="">{t('choose')}</option> : null}
            {choices.sensors.map((s) => (
              <option key={s.id} value={s.id} translate={false}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        <FieldError id={`${id}-sensor-err`} message={errorOf('sensor')} />
        <label>
          {t('metric')}
          <select
            id={`${id}-metric`}
            value={draft.metric}
            {...invalid(`${id}-metric`, errorOf('metric'))}
            onChange={(e) => set({ metric: inputValue(e) })}
          >
            {!metric ? <option value="">{t('choose')}</option> : null}
            {(sensor?.metrics ?? []).map((m) => (
              <option key={m.id} value={m.id} translate={isMetricName(m.id) || m.name ? undefined : false}>
                {metricName(m.id, lang, sensorNames)}
              </option>
            ))}
          </select>
        </label>
        <FieldError id={`${id}-metric-err`} message={errorOf('metric')} />
        {draft.kind === 'threshold' ? (
          <div class="pair">
            <label>
              {t('comparison')}
              <select value={draft.op} onChange={(e) => set({ op: inputValue(e) as Op })}>
                <option value="<">{t('opLt')}</option>
                <option value="<=">{t('opLe')}</option>
                <option value=">">{t('opGt')}</option>
                <option value=">=">{t('opGe')}</option>
              </select>
            </label>
            {numberField('value', t('thresholdValue'))}
          </div>
        ) : (
          <div class="pair">
            {numberField('low', t('bandLow'))}
            {numberField('high', t('bandHigh'))}
          </div>
        )}
      </fieldset>

      {draft.kind === 'threshold' ? (
        <CommandFields
          id={`${id}-action`}
          slot="action"
          legend={t('whenCondition')}
          value={draft.action}
          onChange={(action) => set({ action })}
          choices={choices}
          optional={false}
          errorOf={errorOf}
        />
      ) : (
        <>
          <CommandFields
            id={`${id}-below`}
            slot="below"
            legend={t('whenBelow')}
            value={draft.below}
            onChange={(below) => set({ below })}
            choices={choices}
            optional
            errorOf={errorOf}
          />
          <CommandFields
            id={`${id}-above`}
            slot="above"
            legend={t('whenAbove')}
            value={draft.above}
            onChange={(above) => set({ above })}
            choices={choices}
            optional
            errorOf={errorOf}
          />
        </>
      )}
      {choices.actuators.length === 0 ? <p class="muted">{t('noActuators')}</p> : null}

      <fieldset>
        <legend>{t('safetyLimits')}</legend>
        {intField('maxRunsPerDay', t('maxRunsPerDay'))}
        {intField('maxOpenMinutes', t('maxOpenMinutesLabel'))}
        {intField('cooldownMinutes', t('cooldownMinutes'))}
        <label class="check">
          <input
            type="checkbox"
            checked={draft.quiet}
            {...invalid(`${id}-quiet`, errorOf('quiet'))}
            onChange={(e) => set({ quiet: (e.currentTarget as HTMLInputElement).checked })}
          />
          {t('useQuietHours')}
        </label>
        {draft.quiet ? (
          <div class="pair">
            <label>
              {t('quietFrom')}
              <input
                type="time"
                value={draft.quietFrom}
                {...invalid(`${id}-quiet`, errorOf('quiet'))}
                onInput={(e) => set({ quietFrom: inputValue(e) })}
              />
            </label>
            <label>
              {t('quietTo')}
              <input
                type="time"
                value={draft.quietTo}
                {...invalid(`${id}-quiet`, errorOf('quiet'))}
                onInput={(e) => set({ quietTo: inputValue(e) })}
              />
            </label>
          </div>
        ) : null}
        <FieldError id={`${id}-quiet-err`} message={errorOf('quiet')} />
      </fieldset>

      <label class="check">
        <input
          type="checkbox"
          checked={draft.enabled}
          onChange={(e) => set({ enabled: (e.currentTarget as HTMLInputElement).checked })}
        />
        {t('enableOnSave')}
      </label>

      {Object.keys(errors).length > 0 ? (
        <p class="error" role="alert">
          {t('fixErrors')}
        </p>
      ) : null}
      {conflict ? (
        <div class="error conflict" role="alert">
          <p>{t('automationConflict')}</p>
          <button type="button" onClick={() => void loadLatest()}>
            {t('loadLatest')}
          </button>
        </div>
      ) : serverError ? (
        <div class="server-error">
          <p class="error">{t('saveFailed')}</p>
          <ErrorBox error={serverError} />
        </div>
      ) : null}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {t('save')}
        </button>
        <button type="button" onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </form>
  );
}

/** What an automation drives: → 水門 畑1号 指定時間だけ開く (30 分), or below … · above … for a band. */
export function CommandsText({ a, devices }: { a: AutomationView; devices: DeviceView[] }) {
  const { t } = useI18n();
  /** A kit's own parameters as written: "litres 2.5". */
  const others = (c: ActuatorCommand) =>
    Object.entries(c.params ?? {})
      .filter(([k]) => k !== MINUTES_PARAM)
      .map(([k, v]) => `${k} ${v}`);
  const one = (c: ActuatorCommand) => (
    <>
      <span translate={false}>{devices.find((d) => d.id === c.device)?.name ?? c.device}</span>{' '}
      {knownCommand(c.command) ? commandName(c.command, t) : <span translate={false}>{c.command}</span>}
      {c.params?.minutes !== undefined ? ` (${c.params.minutes} ${t('minutes')})` : ''}
      {others(c).length ? (
        <>
          {' '}
          <span translate={false}>({others(c).join(', ')})</span>
        </>
      ) : null}
    </>
  );
  if (a.trigger.kind === 'threshold') return a.action ? <>→ {one(a.action)}</> : null;
  return (
    <>
      {a.below ? (
        <>
          {t('whenBelow')}: {one(a.below)}
        </>
      ) : null}
      {a.below && a.above ? ' · ' : null}
      {a.above ? (
        <>
          {t('whenAbove')}: {one(a.above)}
        </>
      ) : null}
    </>
  );
}

/** A trigger in the reader's language: 条件 土壌センサー 畑1号 土壌水分 ＜ 22 %, 目標範囲 … 水位 3–5 cm. */
export function TriggerText({
  trigger,
  devices,
  kits = [],
}: {
  trigger: AutomationView['trigger'];
  devices: DeviceView[];
  /** The catalogue, for the name a kit gives a metric of its own. */
  kits?: KitSummary[];
}) {
  const { t, lang } = useI18n();
  const device = devices.find((d) => d.id === trigger.device);
  const p = triggerParts(trigger, lang, kitMetricNames(kits, device?.kit));
  // The sensor by the name the farmer gave it, kept as written.
  const sensor = device?.name ?? trigger.device;
  return (
    <>
      {t(trigger.kind === 'threshold' ? 'triggerThreshold' : 'triggerBand')}{' '}
      <span translate={false}>{sensor}</span> {p.metric} {p.comparison ? `${p.comparison} ` : ''}
      {p.value}
      {p.unit ? (
        <>
          {' '}
          <span translate={false}>{p.unit}</span>
        </>
      ) : null}
    </>
  );
}
