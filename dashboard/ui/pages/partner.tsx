// The IT partner's pages, each headed by the farm's name (its id beside it): a farm's kits and
// devices with their health (unknown, with the gateway named, while the farm's gateways have not
// synced since a device was due; fetched again by itself when a sync brings a device's readings or
// connection, so a kit being commissioned is seen coming online), battery (a low one flagged in
// words, by the thresholds of the battery-low rule the farmer's tip comes from) and MQTT connection
// (connected, or disconnected by its last will, as the gateway recorded it) and its gateways with
// their sync backlog, throughput, version and alerts (each said in the reader's language from what
// the gateway sent, its English kept where the page has no sentence); the settings sent down to
// the farm's gateways (what was last sent, a form in the partner's units, withdrawal, and whether
// each gateway applied or refused it, from its newest report about it); and provisioning in the
// browser — upload or edit a manifest, see each problem at its line and, before provisioning,
// which devices keep their keys and which get new ones (loudly, and to be confirmed, when a device
// already heard from would be cut off), rotate one device's key, be asked for the gateway's address
// where the manifest has none and new keys need it, provision, download the device configs, QR
// codes and the printable sheet.
import { Fragment } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { FarmView } from '../../../protocol/api.ts';
import type { RemoteGatewayConfig } from '../../../protocol/gateway-config.ts';
import type {
  DeviceHealth,
  FarmHealth,
  GatewayAlert,
  GatewayHealth,
  KeyPreview,
  KitSummary,
  ManifestCheckResult,
  ManifestProblem,
  ProvisionResult,
  StoredManifest,
} from '../../../protocol/views.ts';
import { api, ApiError } from '../api.ts';
import { useI18n } from '../i18n.ts';
import { isKnownProblemCode, problemPlace, problemText } from '../manifest-problems.ts';
import { alertText, fmtDuration, gatewayNotSyncingText, type Part } from '../gateway-alerts.ts';
import { useLiveChanges } from '../live.ts';
import { href } from '../route.ts';
import { fmtNumber, fmtTime, fmtValue } from '../format.ts';
import {
  FIELDS,
  GROUPS,
  buildBody,
  fieldOfPointer,
  groupTitle,
  inEffect,
  outcomeOf,
  rangeText,
  settled,
  summary,
  valuesOf,
  type ConfigReport,
  type Outcome,
  type SettingField,
  type Translate,
  type Values,
} from '../gateway-settings.ts';
import {
  base64Bytes,
  ErrorBox,
  FieldError,
  Freshness,
  Loading,
  saveBlob,
  Section,
  useLoad,
} from '../components/common.tsx';

const enc = encodeURIComponent;

/** A farm's health is fetched again at most this often while its devices keep changing. */
const HEALTH_REFRESH_MS = 3_000;

/**
 * `fn` at once, then at most once every `ms`: calls during the wait make one more call at its end
 * (so the last change is always shown), however many there were.
 */
function useThrottled(fn: () => void, ms: number): () => void {
  const cb = useRef(fn);
  cb.current = fn;
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    const run = () => {
      timer.current = undefined;
      last.current = Date.now();
      cb.current();
    };
    const wait = last.current + ms - Date.now();
    if (wait <= 0) run();
    else timer.current = setTimeout(run, wait);
  }, [ms]);
}

export function PartnerFarm({ farm }: { farm: string }) {
  const { t, lang } = useI18n();
  const h = useLoad(() => api<FarmHealth>(`/api/v1/farms/${enc(farm)}/health`), farm);
  // The server's gateway list adds what the health view lacks: the throughput it measured.
  const gwList = useLoad(() => api<GatewayRow[]>('/api/v1/gateways'), `gateway-list-${farm}`);
  // A kit being commissioned comes online on this page by itself: a gateway's sync that brings a
  // device's readings or its connection (the server's `device` change, dashboard/routes/sync.ts),
  // a gateway's own report (`gateway`: backlog, version, alerts), or a reconnected stream, fetches
  // the health again — throttled, as a gateway syncs often.
  useLiveChanges(
    farm,
    ['device', 'gateway'],
    useThrottled(() => {
      h.reload();
      gwList.reload();
    }, HEALTH_REFRESH_MS),
  );
  // A refresh keeps the rows in place while it loads; one that fails keeps them too, its error
  // said above them.
  const lastHealth = useRef<FarmHealth | undefined>(undefined);
  if (h.data) lastHealth.current = h.data;
  const health = h.data ?? (lastHealth.current?.farm === farm ? lastHealth.current : undefined);
  const throughput = (id: string) => {
    const perMin = gwList.data?.find((r) => r.id === id)?.throughput;
    if (perMin === undefined) return '—';
    const n = fmtNumber(perMin, lang, perMin < 10 ? 1 : 0);
    const one = n === '1';
    return t(one ? 'throughputPerMinOne' : 'throughputPerMin').replace('{n}', n);
  };
  const kits = useLoad(() => api<KitSummary[]>('/api/v1/kits'), 'kits');
  const latest = (l: { value: number; unit: string } | null, metric: string) => {
    if (!l) return '—';
    const v = fmtValue(metric, l.value, l.unit, lang);
    return `${v.value} ${v.unit}`;
  };
  return (
    <main id="main" tabIndex={-1}>
      <FarmHeading title={t('devicesAndGateways')} farm={farm} />
      <p>
        <a href={href('partner', farm, 'provision')}>{t('navProvision')}</a>
      </p>
      <ErrorBox error={h.error} />
      {h.firstLoading && !health ? <Loading /> : null}
      {health ? (
        <>
          <Section title={t('devices')} id="dev-h">
            {/* On a phone each device is a card (its values under their headings, `data-label`), so
                last seen, battery, signal and quality are on screen, not scrolled out of sight;
                wider screens keep the table. Values are never broken ("12.6 V"). */}
            <div class="scroll" tabIndex={0} role="region" aria-labelledby="dev-h">
              <table class="table unbroken cards">
                <thead>
                  <tr>
                    <th scope="col">{t('device')}</th>
                    <th scope="col">{t('kit')}</th>
                    <th scope="col">{t('lastSeen')}</th>
                    <th scope="col">{t('battery')}</th>
                    <th scope="col">{t('signal')}</th>
                    <th scope="col">{t('dataQuality')}</th>
                  </tr>
                </thead>
                <tbody>
                  {health.devices.map((d) => (
                    <tr key={d.id} class={d.state === 'ok' ? '' : 'stale-row'} data-testid={`health-${d.id}`}>
                      <th scope="row">
                        {d.name ?? d.id}{' '}
                        <span class="muted" translate={false}>
                          {d.id}
                        </span>
                        <br />
                        <span class={`badge state-${d.state}`}>{t(`state_${d.state}`)}</span>
                        <OnlineBadge online={d.online} />
                        {d.gatewayNotSyncing ? (
                          <span class="sub" data-testid="state-reason">
                            <Parts
                              parts={gatewayNotSyncingText(
                                d.gatewayNotSyncing,
                                (iso) => fmtTime(iso, lang),
                                t,
                              )}
                            />
                          </span>
                        ) : null}
                      </th>
                      <td class="words" data-label={t('kit')}>
                        {d.kitName ? d.kitName[lang] : <span translate={false}>{d.kit ?? '—'}</span>}
                      </td>
                      <td data-label={t('lastSeen')}>
                        <Freshness time={d.lastSeen} staleMs={(d.intervalS ?? 300) * 3000} />
                      </td>
                      <td data-label={t('battery')}>
                        <span translate={false}>
                          {d.batteryLevel
                            ? latest(d.batteryLevel, 'battery_level')
                            : latest(d.battery, 'battery')}
                        </span>
                        <BatteryFlag device={d} />
                      </td>
                      <td translate={false} data-label={t('signal')}>
                        {d.rssi ? `${fmtNumber(d.rssi.value, lang, 0)} dBm` : '—'}
                        {d.snr ? ` / ${fmtNumber(d.snr.value, lang, 1)} dB` : ''}
                      </td>
                      <td data-label={t('dataQuality')}>
                        {d.quality.readings === 0
                          ? '—'
                          : `${fmtNumber(100 - (100 * d.quality.flagged) / d.quality.readings, lang, 1)}% ${t('clean')}`}
                        {Object.keys(d.quality.flags).length ? (
                          <span class="muted" translate={false}>
                            {' '}
                            (
                            {Object.entries(d.quality.flags)
                              .map(([f, n]) => `${f} ${n}`)
                              .join(', ')}
                            )
                          </span>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {health.devices.length === 0 ? <p class="muted">{t('noDevices')}</p> : null}
          </Section>
          <Section title={t('gateways')} id="gw-h">
            {health.gateways.map((g) => (
              <div key={g.id} class="gateway" data-testid={`gateway-${g.id}`}>
                <h3 translate={false}>{g.id}</h3>
                <dl class="dl">
                  <dt>{t('lastSync')}</dt>
                  <dd>
                    <Freshness time={g.lastSync} staleMs={10 * 60_000} />
                  </dd>
                  <dt>{t('backlog')}</dt>
                  <dd>{g.backlog === null ? t('unknown') : fmtNumber(g.backlog, lang, 0)}</dd>
                  <dt>{t('throughput')}</dt>
                  <dd>{throughput(g.id)}</dd>
                  <dt>{t('version')}</dt>
                  <dd translate={false}>{g.version ?? '—'}</dd>
                  <dt>{t('ackedSeq')}</dt>
                  <dd translate={false}>{g.ackedSeq}</dd>
                </dl>
                {g.revoked ? <p class="badge warn">{t('revoked')}</p> : null}
                <UnknownDevices gateway={g.id} devices={health.devices} />
                {g.alerts.length ? (
                  <ul class="log">
                    {g.alerts.map((a) => (
                      <li key={a.id} class={`sev-${a.severity}`} data-type={a.type}>
                        <Freshness time={a.time} staleMs={Infinity} /> <AlertMessage alert={a} />
                      </li>
                    ))}
                  </ul>
                ) : null}
              </div>
            ))}
            {health.gateways.length === 0 ? <p class="muted">{t('noGateways')}</p> : null}
          </Section>
        </>
      ) : null}
      <GatewaySettings key={farm} farm={farm} health={health?.gateways} reloadHealth={h.reload} />
      <Section title={t('kitCatalogue')} id="kits-h">
        <ul class="list">
          {(kits.data ?? []).map((k) => (
            <li key={k.id}>
              {k.name[lang]}{' '}
              <span class="muted" translate={false}>
                {k.id} · {k.transport}
              </span>{' '}
              <span class="muted">
                · {t('kitInterval').replace('{d}', fmtDuration(k.interval * 1000, lang))}
              </span>
            </li>
          ))}
        </ul>
      </Section>
    </main>
  );
}

/**
 * A page's heading with the farm it is about: the farm's name, its id beside it (muted); the id
 * alone while the name is not known (the farm list not loaded, or a farm the reader may not see).
 */
function FarmHeading({ title, farm }: { title: string; farm: string }) {
  const farms = useLoad(() => api<FarmView[]>('/api/v1/farms'), 'farms');
  const name = farms.data?.find((f) => f.id === farm)?.name;
  return (
    <h1>
      {title}
      {name ? (
        <>
          {' — '}
          <span translate={false} data-testid="farm-name">
            {name}
          </span>
        </>
      ) : null}{' '}
      <span class="muted" translate={false}>
        {farm}
      </span>
    </h1>
  );
}

/**
 * Under a device's battery voltage: low or critical, in words, with the mark it is at or below —
 * the server judges it as the farmer's battery tip does (DeviceHealth.batteryState).
 */
function BatteryFlag({ device }: { device: DeviceHealth }) {
  const { t, lang } = useI18n();
  const s = device.batteryState;
  if (!s || s.state === 'ok') return null;
  const v = fmtValue('battery', s.state === 'critical' ? s.criticalV : s.lowV, 'V', lang);
  return (
    <span class="sub" data-testid="battery-flag" data-state={s.state}>
      <span class={s.state === 'critical' ? 'badge warn' : 'badge state-late'}>
        {t(s.state === 'critical' ? 'batteryCritical' : 'batteryLow')}
      </span>{' '}
      {t('batteryThreshold').replace('{v}', `${v.value} ${v.unit}`)}
    </span>
  );
}

/** A sentence of the catalogue with its names (ids, versions) marked to be left as they are. */
function Parts({ parts }: { parts: readonly Part[] }) {
  return (
    <>
      {parts.map((p, i) =>
        typeof p === 'string' ? (
          p
        ) : (
          <span key={i} translate={false}>
            {p.name}
          </span>
        ),
      )}
    </>
  );
}

/**
 * A gateway's alert in the reader's language, said by its type from what the gateway sent; for a
 * refusal (or wherever `words` asks), why (by its code) and the gateway's own English words beside
 * it. An alert the page has no sentence for keeps the gateway's English, marked as English (as a
 * manifest problem does).
 */
function AlertMessage({ alert, words = false }: { alert: GatewayAlert; words?: boolean }) {
  const { t, lang } = useI18n();
  const found = alertText(alert, lang, t);
  const text = found && words && !found.reason ? { ...found, reason: alert.message } : found;
  if (!text)
    return (
      <span translate={false} lang="en" data-testid="alert-text">
        {alert.message}
      </span>
    );
  return (
    <>
      <span data-testid="alert-text">
        <Parts parts={text.parts} />
      </span>
      {text.reason ? (
        <span class="sub" data-testid="alert-detail">
          {text.why ? `${text.why} ` : ''}
          {text.code ? (
            <>
              <code translate={false}>{text.code}</code>{' '}
            </>
          ) : null}
          {t('gatewayDetail')}{' '}
          <span translate={false} lang="en">
            {text.reason}
          </span>
        </span>
      ) : null}
    </>
  );
}

/**
 * Beside a device's state: its MQTT connection as its gateway last recorded it — connected, or
 * disconnected (its last will, or its own "offline"); nothing while that is not known.
 */
function OnlineBadge({ online }: { online: boolean | null }) {
  const { t } = useI18n();
  if (online === null) return null;
  return (
    <>
      {' '}
      <span class={online ? 'badge state-ok' : 'badge warn'} data-testid="device-online">
        {online ? t('deviceOnline') : t('deviceOffline')}
      </span>
    </>
  );
}

/**
 * Beside a gateway: the devices whose state is unknown because the farm's gateways, this one among
 * them, have not synced since they were due (the health view's gatewayNotSyncing).
 */
function UnknownDevices({ gateway, devices }: { gateway: string; devices: FarmHealth['devices'] }) {
  const { t } = useI18n();
  const unknown = devices.filter((d) => d.gatewayNotSyncing?.gateways.includes(gateway));
  if (unknown.length === 0) return null;
  return (
    <p class="warn" data-testid={`unknown-devices-${gateway}`}>
      {t('gatewayUnknownDevices')} <span translate={false}>{unknown.map((d) => d.id).join(', ')}</span>
    </p>
  );
}

/** The settings last sent to the farm's gateways (GET …/gateway-config). */
interface ConfigView {
  version: number;
  config: RemoteGatewayConfig;
  sent: string;
}
/** A row of GET /api/v1/gateways: how far each gateway has read the farm's downlink, its throughput. */
interface GatewayRow {
  id: string;
  farm: string;
  revoked: string | null;
  downlinkVersion: number | null;
  farmDownlinkVersion: number;
  /** Items per minute the server took from the gateway, averaged over the last 5 minutes. */
  throughput: number;
}
type SentState =
  | { state: 'loading' }
  | { state: 'hidden' }
  | { state: 'none' }
  | { state: 'sent'; view: ConfigView }
  | { state: 'error'; error: unknown };

/** While a gateway has not settled, its status is asked for this often, for at most this long. */
const POLL_MS = 3000;
const POLL_FOR_MS = 120_000;

const outcomeText = (o: Outcome, t: Translate): string =>
  o === 'applied'
    ? t('gsApplied')
    : o === 'refused'
      ? t('gsRefused')
      : o === 'reached'
        ? t('gsReached')
        : o === 'waiting'
          ? t('gsWaiting')
          : t('revoked');

/**
 * The settings sent down to the farm's gateways: shown to those who may send them (admins and the
 * farm's IT partner); anyone else gets a 403 from the server and sees nothing of it.
 */
function GatewaySettings({
  farm,
  health,
  reloadHealth,
}: {
  farm: string;
  health: GatewayHealth[] | undefined;
  reloadHealth: () => void;
}) {
  const { t, lang } = useI18n();
  const url = `/api/v1/farms/${enc(farm)}/gateway-config`;
  const [sent, setSent] = useState<SentState>({ state: 'loading' });
  const [values, setValues] = useState<Values>(() => valuesOf(undefined));
  const [showErrors, setShowErrors] = useState(false);
  const [serverError, setServerError] = useState<unknown>(null);
  const [serverField, setServerField] = useState('');
  const [withdrawError, setWithdrawError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [sentNotice, setSentNotice] = useState('');
  const [withdrawNotice, setWithdrawNotice] = useState('');
  const [attempt, setAttempt] = useState(0);
  /** The downlink version whose arrival at each gateway is followed: a sending, or a withdrawal. */
  const [tracked, setTracked] = useState<{ version: number; until: number } | null>(null);
  const form = useRef<HTMLFormElement>(null);
  const confirmButton = useRef<HTMLButtonElement>(null);
  const withdrawButton = useRef<HTMLButtonElement>(null);
  const current = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let live = true;
    setSent({ state: 'loading' });
    api<ConfigView>(url).then(
      (view) => {
        if (!live) return;
        setSent({ state: 'sent', view });
        setValues(valuesOf(view.config));
        setTracked({ version: view.version, until: Date.now() + POLL_FOR_MS });
      },
      (error: unknown) => {
        if (!live) return;
        if (error instanceof ApiError && error.status === 404) setSent({ state: 'none' });
        else if (error instanceof ApiError && error.status === 403) setSent({ state: 'hidden' });
        else setSent({ state: 'error', error });
      },
    );
    return () => {
      live = false;
    };
  }, [url]);
  // After a refused send, the first field with a problem (or the form's own problem) takes the focus.
  useEffect(() => {
    if (attempt) form.current?.querySelector<HTMLElement>('[aria-invalid="true"], .form-error')?.focus();
  }, [attempt]);
  useEffect(() => {
    if (confirming) confirmButton.current?.focus();
  }, [confirming]);

  if (sent.state === 'loading' || sent.state === 'hidden') return null;
  // Checked as typed once a send was tried, in the language on screen.
  const errors = showErrors ? buildBody(values, t).errors : {};
  // The field the server's problem names is marked; what the server said is in the form's ErrorBox.
  const errorOf = (key: string) => errors[key] ?? (serverField === key ? t('serverRefused') : undefined);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    const { body, errors: problems } = buildBody(values, t);
    setShowErrors(true);
    setServerError(null);
    setServerField('');
    setSentNotice('');
    if (!body || Object.keys(problems).length > 0) {
      setAttempt((n) => n + 1);
      return;
    }
    setBusy(true);
    try {
      const view = await api<ConfigView>(url, { method: 'PUT', body });
      setSent({ state: 'sent', view });
      setValues(valuesOf(view.config));
      setShowErrors(false);
      setWithdrawNotice('');
      setTracked({ version: view.version, until: Date.now() + POLL_FOR_MS });
      setSentNotice(t('gsSentOk').replace('{version}', String(view.version)));
    } catch (err) {
      setServerError(err);
      if (err instanceof ApiError) setServerField(fieldOfPointer(err.pointer));
      setAttempt((n) => n + 1);
    } finally {
      setBusy(false);
    }
  };

  const withdraw = async () => {
    if (busy) return;
    setBusy(true);
    setWithdrawError(null);
    try {
      await api<unknown>(url, { method: 'DELETE' });
      setSent({ state: 'none' });
      setValues(valuesOf(undefined));
      setShowErrors(false);
      setSentNotice('');
      setWithdrawNotice(t('gsWithdrawn'));
      current.current?.focus(); // the button pressed is gone: the focus goes to what replaced it
      // The withdrawal is the farm's newest downlink document: follow that version to each gateway.
      const rows = await api<GatewayRow[]>('/api/v1/gateways').catch(() => []);
      const newest = rows.find((g) => g.farm === farm)?.farmDownlinkVersion;
      setTracked(newest ? { version: newest, until: Date.now() + POLL_FOR_MS } : null);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setSent({ state: 'none' });
      setWithdrawError(err);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };

  const input = (f: SettingField) => {
    const id = `gws-${f.key.replace(/\./g, '-')}`;
    const error = errorOf(f.key);
    // What the gateways run on now: shown under the field, and as its placeholder when they agree
    // (an empty field keeps each gateway's own value).
    const now = inEffect(f, health);
    return (
      <div class="gws-field" key={f.key}>
        <label for={id}>
          {f.label(t)}{' '}
          <span class="unit">
            (<span translate={false}>{f.unit(t)}</span>)
          </span>
        </label>
        <input
          id={id}
          type="text"
          inputMode={f.api.integer && f.scale === 1 ? 'numeric' : 'decimal'}
          autoComplete="off"
          spellcheck={false}
          value={values[f.key] ?? ''}
          placeholder={now.length === 1 ? now[0]!.value : undefined}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-hint ${id}-err` : `${id}-hint`}
          onInput={(e) => setValues({ ...values, [f.key]: (e.currentTarget as HTMLInputElement).value })}
        />
        <p class="muted hint" id={`${id}-hint`}>
          {now.length > 0 ? (
            <span class="gws-now" data-testid="gws-now">
              {t('gsInEffect')}{' '}
              {now.map((n, i) => (
                <span key={n.value}>
                  {i > 0 ? ' / ' : ''}
                  <span translate={false}>
                    {n.value} {f.unit(t, n.value)}
                  </span>{' '}
                  (<span translate={false}>{n.gateways.join(', ')}</span>)
                </span>
              ))}
              <br />
            </span>
          ) : null}
          {rangeText(f, t)}
          {f.hint ? (
            <>
              <br />
              {f.hint(t)}
            </>
          ) : null}
        </p>
        <FieldError id={`${id}-err`} message={error} />
      </div>
    );
  };

  return (
    <Section title={t('gsTitle')} id="gws-h">
      <p class="muted">{t('gsIntro')}</p>
      <div class="gws-current" data-testid="gws-current" ref={current} tabIndex={-1}>
        {sent.state === 'error' ? <ErrorBox error={sent.error} /> : null}
        {sent.state === 'none' ? <p>{t('gsNoneSent')}</p> : null}
        {sent.state === 'sent' ? (
          <>
            <p>
              {t('gsLastSent')
                .replace('{version}', String(sent.view.version))
                .replace('{time}', fmtTime(sent.view.sent, lang))}
            </p>
            <SentValues config={sent.view.config} />
            {confirming ? (
              <div class="confirm" role="group" aria-labelledby="gws-confirm-q">
                <p id="gws-confirm-q" class="warn">
                  {t('gsWithdrawConfirm')}
                </p>
                <div class="actions">
                  <button
                    type="button"
                    class="danger"
                    ref={confirmButton}
                    disabled={busy}
                    onClick={() => void withdraw()}
                  >
                    {t('gsWithdrawYes')}
                  </button>
                  <button
                    type="button"
                    onClick={() => {
                      setConfirming(false);
                      setTimeout(() => withdrawButton.current?.focus(), 0);
                    }}
                  >
                    {t('cancel')}
                  </button>
                </div>
              </div>
            ) : (
              <div class="actions">
                <button
                  type="button"
                  class="danger"
                  ref={withdrawButton}
                  disabled={busy}
                  onClick={() => setConfirming(true)}
                >
                  {t('gsWithdraw')}
                </button>
              </div>
            )}
          </>
        ) : null}
        <ErrorBox error={withdrawError} />
        <p role="status" class="ok">
          {withdrawNotice}
        </p>
      </div>
      <GatewayOutcomes farm={farm} tracked={tracked} health={health} reloadHealth={reloadHealth} />
      <form
        ref={form}
        class="gws-form"
        aria-labelledby="gws-form-h"
        noValidate
        onSubmit={(e) => void submit(e)}
      >
        <h3 id="gws-form-h">{t('gsSendTitle')}</h3>
        <p class="muted">{t('gsFormHelp')}</p>
        {GROUPS.map((g) => (
          <fieldset key={g}>
            <legend>{groupTitle(g, t)}</legend>
            <div class="gws-grid">{FIELDS.filter((f) => f.group === g).map(input)}</div>
          </fieldset>
        ))}
        {errors.form ? (
          <p class="error form-error" role="alert" tabIndex={-1}>
            {errors.form}
          </p>
        ) : null}
        {serverField ? <p class="error">{t('gsServerRefused')}</p> : null}
        <ErrorBox error={serverError} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {t('gsSend')}
          </button>
        </div>
        <p role="status" class="ok">
          {sentNotice}
        </p>
      </form>
    </Section>
  );
}

/** The keys a sent configuration sets, in the partner's units. */
function SentValues({ config }: { config: RemoteGatewayConfig }) {
  const { t } = useI18n();
  const rows = summary(config);
  if (rows.length === 0) return <p class="muted">{t('gsNoKeys')}</p>;
  return (
    <dl class="dl" data-testid="gws-sent-values">
      {rows.map(({ field, value }) => (
        <Fragment key={field.key}>
          <dt>{field.label(t)}</dt>
          <dd translate={false}>
            {value} {field.unit(t, value)}
          </dd>
        </Fragment>
      ))}
    </dl>
  );
}

/**
 * Each gateway of the farm against the version followed: applied or refused (its newest report
 * about the settings, the health view's configReport — never pushed out by later alerts),
 * received, or not yet — and that report.
 * Asked again every few seconds while a gateway has not settled, for two minutes at most.
 */
function GatewayOutcomes({
  farm,
  tracked,
  health,
  reloadHealth,
}: {
  farm: string;
  tracked: { version: number; until: number } | null;
  health: GatewayHealth[] | undefined;
  reloadHealth: () => void;
}) {
  const { t } = useI18n();
  const list = useLoad(() => api<GatewayRow[]>('/api/v1/gateways'), `gateways-${tracked?.version ?? 0}`);
  const rows = (list.data ?? []).filter((g) => g.farm === farm);
  const items = rows.map((g) => {
    const latest = health?.find((x) => x.id === g.id)?.configReport;
    return tracked
      ? { g, ...outcomeOf(tracked.version, g, latest) }
      : { g, outcome: null, report: latest ?? undefined };
  });
  const pending = items.some((i) => i.outcome !== null && !settled(i.outcome));
  // A gateway that has read the version but whose report is not in the health view yet.
  const needReports = useRef(false);
  needReports.current = items.some((i) => i.outcome === 'reached');
  useEffect(() => {
    if (!pending || !tracked) return;
    const id = setInterval(() => {
      if (Date.now() > tracked.until) return clearInterval(id);
      list.reload();
      if (needReports.current) reloadHealth();
    }, POLL_MS);
    return () => clearInterval(id);
  }, [pending, tracked]);

  return (
    <div class="gws-status">
      <h3>{t('gsStatusTitle')}</h3>
      <p class="muted">{t('gsStatusHow')}</p>
      <ErrorBox error={list.error} />
      {list.data && rows.length === 0 ? <p class="muted">{t('noGateways')}</p> : null}
      <ul class="cards" aria-live="polite">
        {items.map(({ g, outcome, report }) => (
          <li key={g.id} class="gws-gateway" data-testid={`gws-${g.id}`}>
            <strong translate={false}>{g.id}</strong>{' '}
            {outcome ? <span class={`badge outcome-${outcome}`}>{outcomeText(outcome, t)}</span> : null}
            <dl class="dl">
              <dt>{t('gsDownlinkVersion')}</dt>
              <dd translate={false}>
                {g.downlinkVersion === null ? '—' : `v${g.downlinkVersion}`}
                {tracked ? ` / v${tracked.version}` : ''}
              </dd>
              {report ? <ReportRow report={report} /> : null}
            </dl>
          </li>
        ))}
      </ul>
      <div class="actions">
        <button
          type="button"
          disabled={list.loading}
          onClick={() => {
            list.reload();
            reloadHealth();
          }}
        >
          {t('gsRefresh')}
        </button>
      </div>
    </div>
  );
}

function ReportRow({ report }: { report: ConfigReport }) {
  const { t } = useI18n();
  // The event the report is, said as the alert list says it, with the gateway's words (what it
  // applied: the keys it took; or why it refused) beside it.
  return (
    <>
      <dt>{t('gsLatestReport')}</dt>
      <dd>
        <Freshness time={report.time} staleMs={Infinity} />{' '}
        <span class={report.outcome === 'applied' ? 'report' : 'report refused'}>
          <AlertMessage alert={report.event} words />
        </span>
      </dd>
    </>
  );
}

function ManifestEditor({
  text,
  onChange,
  problems,
  editorRef,
}: {
  text: string;
  onChange: (s: string) => void;
  problems: ManifestProblem[];
  editorRef: { current: HTMLTextAreaElement | null };
}) {
  const { t } = useI18n();
  const gutter = useRef<HTMLDivElement>(null);
  const bad = new Set(problems.map((p) => p.line).filter((l): l is number => l !== null));
  const lines = Math.max(1, text.split('\n').length);
  return (
    <div class="editor">
      <div class="gutter" ref={gutter} aria-hidden="true">
        {Array.from({ length: lines }, (_, i) => (
          <span key={i} class={bad.has(i + 1) ? 'bad' : ''} data-line={i + 1}>
            {i + 1}
          </span>
        ))}
      </div>
      <textarea
        ref={editorRef}
        id="manifest-text"
        spellcheck={false}
        autoCapitalize="off"
        aria-label={t('manifest')}
        aria-invalid={problems.length > 0}
        aria-describedby="manifest-problems"
        value={text}
        onInput={(e) => onChange((e.target as HTMLTextAreaElement).value)}
        onScroll={(e) => {
          if (gutter.current) gutter.current.scrollTop = (e.target as HTMLTextAreaElement).scrollTop;
        }}
      />
    </div>
  );
}

/** Moves the caret to a line of the textarea and selects it. */
function goToLine(area: HTMLTextAreaElement | null, line: number | null, column: number | null) {
  if (!area || line === null) return;
  const lines = area.value.split('\n');
  let start = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i]!.length + 1;
  const end = start + (lines[line - 1]?.length ?? 0);
  area.focus();
  area.setSelectionRange(start + Math.max(0, (column ?? 1) - 1), end);
  const lh = parseFloat(getComputedStyle(area).lineHeight) || 20;
  area.scrollTop = Math.max(0, (line - 3) * lh);
}

/** Provisioning for one farm: another farm's page starts afresh (its text, its check, its errors). */
export function ProvisionPage({ farm }: { farm: string }) {
  return <Provision key={farm} farm={farm} />;
}

/** A broker host as the provisioning API takes it (ProvisionRequest's broker.host). */
const BROKER_HOST = /^[A-Za-z0-9.:[\]-]{1,253}$/;

/**
 * The key plan with the device chosen for rotation given a new key: its key 'rotate', and at risk
 * when it has been heard from (as the server marks a device heard from that would get a new key).
 */
function withRotation(keys: KeyPreview, rotate: string | null): KeyPreview {
  const chosen = rotate ? keys.devices.find((d) => d.id === rotate && d.key === 'keep') : undefined;
  if (!chosen) return keys;
  const heard = chosen.lastSeen !== null || chosen.online !== null;
  return {
    ...keys,
    devices: keys.devices.map((d) => (d === chosen ? { ...d, key: 'rotate' as const } : d)),
    atRisk: heard && !keys.atRisk.includes(chosen.id) ? [...keys.atRisk, chosen.id] : keys.atRisk,
  };
}

/**
 * Before provisioning: what it does with each device's key — kept, new, rotated on request, or none
 * (LoRaWAN) — with a control per kept key to rotate it (one device per provisioning: the API
 * rotates one), and, loudly, the devices already heard from that a new key (or leaving the
 * manifest) would cut off until they are given their new config; provisioning waits for
 * `confirmed` then.
 */
function KeyPlan({
  keys,
  rotating,
  onRotate,
  confirmed,
  onConfirm,
}: {
  keys: KeyPreview;
  rotating: string | null;
  onRotate: (id: string | null) => void;
  confirmed: boolean;
  onConfirm: (v: boolean) => void;
}) {
  const { t, lang } = useI18n();
  const count = (k: string) => keys.devices.filter((d) => d.key === k).length;
  const risky = keys.atRisk.length > 0 || keys.removed.length > 0;
  const riskNew = keys.atRisk.filter((id) => id !== rotating);
  const rotatable = keys.devices.some((d) => d.key === 'keep' || d.key === 'rotate');
  return (
    <div class="key-plan" data-testid="key-preview">
      <h3>{t('keyPlanTitle')}</h3>
      <p data-testid="key-summary">
        {t('keyPlanSummary')
          .replace('{keep}', String(count('keep')))
          .replace('{new}', String(count('new') + count('rotate')))}
      </p>
      {rotating ? (
        <p class="warn" data-testid="rotate-notice">
          {t('rotateNotice')} <span translate={false}>{rotating}</span>
          <span class="sub">{t('rotateOnce')}</span>
        </p>
      ) : null}
      {risky ? (
        <div class="error sev sev-severe" role="alert" data-testid="key-risk">
          <p>{t('keyRiskTitle')}</p>
          {riskNew.length ? (
            <p data-testid="key-risk-new">
              {t('keyRiskNew')} <span translate={false}>{riskNew.join(', ')}</span>
            </p>
          ) : null}
          {rotating && keys.atRisk.includes(rotating) ? (
            <p data-testid="key-risk-rotate">
              {t('keyRiskRotate')} <span translate={false}>{rotating}</span>
            </p>
          ) : null}
          {keys.removed.length ? (
            <p data-testid="key-risk-removed">
              {t('keyRiskRemoved')} <span translate={false}>{keys.removed.join(', ')}</span>
            </p>
          ) : null}
          {riskNew.length && keys.gatewayRegistry === null ? <p>{t('keyRiskNoGateway')}</p> : null}
          <label class="check">
            <input
              type="checkbox"
              checked={confirmed}
              onChange={(e) => onConfirm((e.target as HTMLInputElement).checked)}
              data-testid="key-risk-confirm"
            />
            {t('keyRiskConfirm')}
          </label>
        </div>
      ) : null}
      <div class="scroll" tabIndex={0} role="region" aria-labelledby="key-plan-h">
        <table class="table">
          <caption id="key-plan-h" class="muted">
            {t('keyPlanCaption')}
          </caption>
          <thead>
            <tr>
              <th scope="col">{t('device')}</th>
              <th scope="col">{t('keyPlanKey')}</th>
              <th scope="col">{t('lastSeen')}</th>
            </tr>
          </thead>
          <tbody>
            {keys.devices.map((d) => {
              const atRisk = keys.atRisk.includes(d.id);
              return (
                <tr key={d.id} data-testid={`key-${d.id}`} data-key={d.key} class={atRisk ? 'stale-row' : ''}>
                  <th scope="row" id={`key-row-${d.id}`}>
                    {d.name ?? d.id}{' '}
                    <span class="muted" translate={false}>
                      {d.id}
                    </span>
                  </th>
                  <td>
                    <span
                      class={
                        atRisk
                          ? 'badge warn'
                          : d.key === 'keep'
                            ? 'badge state-ok'
                            : d.key === 'none'
                              ? 'badge state-unknown'
                              : 'badge'
                      }
                    >
                      {t(`keyAction_${d.key}`)}
                    </span>
                    {d.from === 'gateway' && d.key === 'keep' ? (
                      <span class="sub">{t('keyFromGateway')}</span>
                    ) : null}
                    {d.key === 'keep' || d.key === 'rotate' ? (
                      <span class="sub">
                        <button
                          type="button"
                          aria-pressed={d.key === 'rotate'}
                          aria-describedby={`key-row-${d.id}`}
                          onClick={() => onRotate(d.key === 'rotate' ? null : d.id)}
                          data-testid={`rotate-${d.id}`}
                        >
                          {t('rotateKey')}
                        </button>
                      </span>
                    ) : null}
                  </td>
                  <td>{d.lastSeen ? fmtTime(d.lastSeen, lang) : t('state_never')}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {rotatable ? <p class="muted">{t('rotateOne')}</p> : null}
    </div>
  );
}

function Provision({ farm }: { farm: string }) {
  const { t } = useI18n();
  const stored = useLoad(() => api<StoredManifest>(`/api/v1/farms/${enc(farm)}/manifest`), farm);
  const [text, setText] = useState<string | null>(null);
  const [files, setFiles] = useState<Record<string, string>>({});
  const [check, setCheck] = useState<ManifestCheckResult | null>(null);
  /** The text and files the check was of: provisioning waits for a check of what is there now. */
  const [checkedFor, setCheckedFor] = useState<{ text: string; files: Record<string, string> } | null>(null);
  /** The checked manifest's own broker host (null: none; undefined: not known here). */
  const [riskConfirmed, setRiskConfirmed] = useState(false);
  /** The device whose key the partner chose to rotate (one per provisioning). */
  const [rotate, setRotate] = useState<string | null>(null);
  const [result, setResult] = useState<ProvisionResult | null>(null);
  /** The device whose key the last provisioning rotated. */
  const [rotated, setRotated] = useState<string | null>(null);
  const [host, setHost] = useState('');
  /** The server refused the broker host (its problem names /broker/host). */
  const [hostRefused, setHostRefused] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const editor = useRef<HTMLTextAreaElement | null>(null);
  const value = text ?? stored.data?.text ?? '';
  const problems = check?.problems ?? [];
  const checkedNow = check?.ok === true && checkedFor?.text === value && checkedFor.files === files;
  const plan = checkedNow && check.keys ? withRotation(check.keys, rotate) : null;
  const rotating = plan?.devices.find((d) => d.key === 'rotate')?.id ?? null;
  const mustConfirm = plan !== null && (plan.atRisk.length > 0 || plan.removed.length > 0);
  // The broker host goes into the config of every device given a key now; a manifest of another
  // farm has no plan: the server says what it thinks of it.
  const issuesKeys = plan === null || plan.devices.some((d) => d.key === 'new' || d.key === 'rotate');
  const typedHost = host.trim();
  const hostError = !checkedNow
    ? undefined
    : typedHost === ''
      ? plan !== null && plan.brokerHost === null && issuesKeys
        ? t('brokerHostMissing')
        : undefined
      : !BROKER_HOST.test(typedHost)
        ? t('brokerHostFormat')
        : hostRefused
          ? t('serverRefused')
          : undefined;
  const canProvision = !busy && checkedNow && !hostError && (!mustConfirm || riskConfirmed);

  const load = async (e: Event) => {
    const input = e.target as HTMLInputElement;
    const list = Array.from(input.files ?? []);
    const boundary: Record<string, string> = {};
    for (const f of list) {
      const content = await f.text();
      if (/\.ya?ml$/i.test(f.name)) setText(content);
      else boundary[f.name] = content;
    }
    if (Object.keys(boundary).length) setFiles({ ...files, ...boundary });
    setCheck(null);
    setResult(null);
  };
  const runCheck = async () => {
    setBusy(true);
    setError(null);
    setResult(null);
    setRiskConfirmed(false);
    try {
      const input = { text: value, files };
      const answer = await api<ManifestCheckResult>(`/api/v1/farms/${enc(farm)}/manifest/check`, {
        method: 'POST',
        body: input,
      });
      setCheck(answer);
      setCheckedFor(input);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const runProvision = async () => {
    setBusy(true);
    setError(null);
    setHostRefused(false);
    try {
      const r = await api<ProvisionResult>(`/api/v1/farms/${enc(farm)}/provision`, {
        method: 'POST',
        body: {
          text: value,
          files,
          ...(typedHost ? { broker: { host: typedHost } } : {}),
          ...(rotating ? { rotate: rotating } : {}),
        },
      });
      setResult(r);
      setRotated(rotating && r.issued.includes(rotating) ? rotating : null);
      setRotate(null);
      // Done: another provisioning is checked again first.
      setCheck({ ok: true, problems: [], fields: 0, devices: r.devices.length, keys: null });
      setCheckedFor(null);
    } catch (e) {
      // The manifest's problems, each at its line; any other refusal (the farm, the role, the
      // broker address, a problem+json 422) is the server's problem, shown with its reason — the
      // broker address's also at its field.
      const problems =
        e instanceof ApiError ? (e.body as { problems?: unknown } | null)?.problems : undefined;
      if (e instanceof ApiError && e.status === 422 && Array.isArray(problems))
        setCheck({ ok: false, problems: problems as ManifestProblem[], fields: 0, devices: 0, keys: null });
      else {
        if (e instanceof ApiError && e.pointer === '/broker/host') setHostRefused(true);
        setError(e);
      }
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" tabIndex={-1}>
      <p>
        <a href={href('partner', farm)}>← {t('devicesAndGateways')}</a>
      </p>
      <FarmHeading title={t('provisioning')} farm={farm} />
      <ol class="steps">
        <li>{t('stepEdit')}</li>
        <li>{t('stepCheck')}</li>
        <li>{t('stepProvision')}</li>
      </ol>
      <ErrorBox error={stored.error} />
      <Section title={t('manifest')} id="manifest-h">
        <label>
          {t('uploadManifest')}
          <input
            type="file"
            multiple
            accept=".yaml,.yml,.json,.geojson"
            onChange={(e) => void load(e)}
            data-testid="manifest-file"
          />
        </label>
        {Object.keys(files).length ? (
          <p class="muted">
            {t('boundaryFiles')} <span translate={false}>{Object.keys(files).join(', ')}</span>
          </p>
        ) : null}
        {stored.loading ? (
          <Loading />
        ) : (
          <ManifestEditor
            text={value}
            problems={problems}
            editorRef={editor}
            onChange={(s) => {
              setText(s);
              setResult(null);
            }}
          />
        )}
        <label for="broker-host">{t('brokerHost')}</label>
        <input
          id="broker-host"
          value={host}
          placeholder="192.168.1.10"
          autoComplete="off"
          spellcheck={false}
          aria-invalid={hostError ? true : undefined}
          aria-describedby={hostError ? 'broker-host-err' : undefined}
          onInput={(e) => {
            setHost((e.target as HTMLInputElement).value);
            setHostRefused(false);
          }}
        />
        <FieldError id="broker-host-err" message={hostError} />
        <div class="actions">
          <button type="button" disabled={busy} onClick={() => void runCheck()}>
            {t('check')}
          </button>
          <button
            type="button"
            class="primary"
            disabled={!canProvision}
            aria-describedby="provision-needs"
            onClick={() => void runProvision()}
          >
            {t('provision')}
          </button>
        </div>
        <p id="provision-needs" class="muted" data-testid="provision-needs">
          {!checkedNow
            ? t('provisionNeedsCheck')
            : hostError
              ? t('provisionNeedsHost')
              : mustConfirm && !riskConfirmed
                ? t('provisionNeedsConfirm')
                : ''}
        </p>
        {/* A refused check or provisioning, under the buttons pressed: the server's reason and code. */}
        <ErrorBox error={error} />
        <div id="manifest-problems" aria-live="polite">
          {check?.ok ? (
            <p class="ok" data-testid="manifest-ok">
              {t('manifestValid')}
            </p>
          ) : null}
          {plan ? (
            <KeyPlan
              keys={plan}
              rotating={rotating}
              onRotate={(id) => {
                setRotate(id);
                setRiskConfirmed(false);
              }}
              confirmed={riskConfirmed}
              onConfirm={setRiskConfirmed}
            />
          ) : null}
          {problems.length ? (
            <>
              <p class="error" role="alert">
                {t('problemsFound').replace('{n}', String(problems.length))}
              </p>
              <ul class="problems" data-testid="problems">
                {problems.map((p, i) => (
                  <li key={i} data-code={p.code}>
                    <button
                      type="button"
                      class="link"
                      onClick={() => goToLine(editor.current, p.line, p.column)}
                      data-line={p.line ?? ''}
                    >
                      {problemPlace(p, t)}
                    </button>{' '}
                    <span data-testid="problem-text">{problemText(p, t)}</span>
                    {isKnownProblemCode(p.code) ? null : (
                      <>
                        {' '}
                        <code translate={false}>{p.code}</code>
                      </>
                    )}
                    <span class="sub" data-testid="problem-detail">
                      {t('serverDetail')}{' '}
                      <span translate={false} lang="en">
                        {p.message}
                      </span>
                      {p.expected ? (
                        <>
                          {' '}
                          — {t('expected')}{' '}
                          <span translate={false} lang="en">
                            {p.expected}
                          </span>
                        </>
                      ) : null}
                    </span>
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </div>
      </Section>
      {result ? (
        <Section title={t('provisioned')} id="prov-h">
          <p role="status" class="ok">
            {t('provisionedSummary')
              .replace('{issued}', String(result.issued.length))
              .replace('{kept}', String(result.kept.length))}
          </p>
          <p class="warn">{t('secretWarning')}</p>
          <p>
            <button
              type="button"
              onClick={() => saveBlob(`${farm}-sheet.html`, result.sheetHtml, 'text/html')}
              data-testid="download-sheet"
            >
              {t('downloadSheet')}
            </button>
          </p>
          <ul class="cards">
            {result.devices.map((d) => (
              <li key={d.id} class="card" data-testid={`provisioned-${d.id}`}>
                <h3>
                  {d.name ?? d.id}{' '}
                  <span class="muted" translate={false}>
                    {d.id}
                  </span>
                </h3>
                {d.files ? (
                  <>
                    {d.id === rotated ? (
                      <p class="warn" data-testid="rotated-notice">
                        {t('rotatedNotice')}
                      </p>
                    ) : null}
                    <img
                      src={`data:image/png;base64,${d.files.qrPng}`}
                      alt={`QR ${d.id}`}
                      width={160}
                      height={160}
                    />
                    <div class="actions">
                      <button
                        type="button"
                        onClick={() => saveBlob(`${d.id}.png`, base64Bytes(d.files!.qrPng), 'image/png')}
                        data-testid={`download-qr-${d.id}`}
                      >
                        {t('downloadQr')}
                      </button>
                      <button
                        type="button"
                        onClick={() => saveBlob(`${d.id}.json`, d.files!.config, 'application/json')}
                      >
                        {t('downloadConfig')}
                      </button>
                      <button
                        type="button"
                        onClick={() => saveBlob(`${d.id}.esphome.yaml`, d.files!.esphome, 'text/yaml')}
                      >
                        {t('downloadEsphome')}
                      </button>
                    </div>
                  </>
                ) : d.lorawan ? (
                  <p class="muted">{t('lorawanNoSecret')}</p>
                ) : (
                  <p class="muted">{t('secretKept')}</p>
                )}
              </li>
            ))}
          </ul>
        </Section>
      ) : null}
    </main>
  );
}
