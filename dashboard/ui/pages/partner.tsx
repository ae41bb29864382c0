// The IT partner's pages: a farm's kits and devices with their health and its gateways with their
// sync backlog and version; and provisioning in the browser — upload or edit a manifest, see each
// problem at its line, provision, download the device configs, QR codes and the printable sheet.
import { useRef, useState } from 'preact/hooks';
import type {
  FarmHealth,
  KitSummary,
  ManifestCheckResult,
  ManifestProblem,
  ProvisionResult,
  StoredManifest,
} from '../../../protocol/views.ts';
import { api, ApiError } from '../api.ts';
import { useI18n } from '../i18n.ts';
import { href } from '../route.ts';
import { fmtNumber, fmtValue } from '../format.ts';
import {
  base64Bytes,
  ErrorBox,
  Freshness,
  Loading,
  saveBlob,
  Section,
  useLoad,
} from '../components/common.tsx';

const enc = encodeURIComponent;

export function PartnerFarm({ farm }: { farm: string }) {
  const { t, lang } = useI18n();
  const h = useLoad(() => api<FarmHealth>(`/api/v1/farms/${enc(farm)}/health`), farm);
  const kits = useLoad(() => api<KitSummary[]>('/api/v1/kits'), 'kits');
  const latest = (l: { value: number; unit: string } | null, metric: string) => {
    if (!l) return '—';
    const v = fmtValue(metric, l.value, l.unit, lang);
    return `${v.value} ${v.unit}`;
  };
  return (
    <main id="main" tabIndex={-1}>
      <h1>
        {t('devicesAndGateways')}{' '}
        <span class="muted" translate={false}>
          {farm}
        </span>
      </h1>
      <p>
        <a href={href('partner', farm, 'provision')}>{t('navProvision')}</a>
      </p>
      <ErrorBox error={h.error} />
      {h.loading && !h.data ? <Loading /> : null}
      {h.data ? (
        <>
          <Section title={t('devices')} id="dev-h">
            <div class="scroll">
              <table class="table">
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
                  {h.data.devices.map((d) => (
                    <tr key={d.id} class={d.state === 'ok' ? '' : 'stale-row'} data-testid={`health-${d.id}`}>
                      <th scope="row">
                        {d.name ?? d.id}{' '}
                        <span class="muted" translate={false}>
                          {d.id}
                        </span>
                        <br />
                        <span class={`badge state-${d.state}`}>{t(`state_${d.state}`)}</span>
                      </th>
                      <td>{d.kitName ? d.kitName[lang] : <span translate={false}>{d.kit ?? '—'}</span>}</td>
                      <td>
                        <Freshness time={d.lastSeen} staleMs={(d.intervalS ?? 300) * 3000} />
                      </td>
                      <td translate={false}>
                        {d.batteryLevel
                          ? latest(d.batteryLevel, 'battery_level')
                          : latest(d.battery, 'battery')}
                      </td>
                      <td translate={false}>
                        {d.rssi ? `${fmtNumber(d.rssi.value, lang, 0)} dBm` : '—'}
                        {d.snr ? ` / ${fmtNumber(d.snr.value, lang, 1)} dB` : ''}
                      </td>
                      <td>
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
            {h.data.devices.length === 0 ? <p class="muted">{t('noDevices')}</p> : null}
          </Section>
          <Section title={t('gateways')} id="gw-h">
            {h.data.gateways.map((g) => (
              <div key={g.id} class="gateway" data-testid={`gateway-${g.id}`}>
                <h3 translate={false}>{g.id}</h3>
                <dl class="dl">
                  <dt>{t('lastSync')}</dt>
                  <dd>
                    <Freshness time={g.lastSync} staleMs={10 * 60_000} />
                  </dd>
                  <dt>{t('backlog')}</dt>
                  <dd>{g.backlog === null ? t('unknown') : fmtNumber(g.backlog, lang, 0)}</dd>
                  <dt>{t('version')}</dt>
                  <dd translate={false}>{g.version ?? '—'}</dd>
                  <dt>{t('ackedSeq')}</dt>
                  <dd translate={false}>{g.ackedSeq}</dd>
                </dl>
                {g.revoked ? <p class="badge warn">{t('revoked')}</p> : null}
                {g.alerts.length ? (
                  <ul class="log">
                    {g.alerts.map((a) => (
                      <li key={a.id} class={`sev-${a.severity}`}>
                        <Freshness time={a.time} staleMs={Infinity} /> {a.message}
                      </li>
                    ))}
                  </ul>
                ) : null}
              </div>
            ))}
            {h.data.gateways.length === 0 ? <p class="muted">{t('noGateways')}</p> : null}
          </Section>
        </>
      ) : null}
      <Section title={t('kitCatalogue')} id="kits-h">
        <ul class="list">
          {(kits.data ?? []).map((k) => (
            <li key={k.id}>
              {k.name[lang]}{' '}
              <span class="muted" translate={false}>
                {k.id} · {k.transport} · {k.interval}s
              </span>
            </li>
          ))}
        </ul>
      </Section>
    </main>
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

export function ProvisionPage({ farm }: { farm: string }) {
  const { t } = useI18n();
  const stored = useLoad(() => api<StoredManifest>(`/api/v1/farms/${enc(farm)}/manifest`), farm);
  const [text, setText] = useState<string | null>(null);
  const [files, setFiles] = useState<Record<string, string>>({});
  const [check, setCheck] = useState<ManifestCheckResult | null>(null);
  const [result, setResult] = useState<ProvisionResult | null>(null);
  const [host, setHost] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const editor = useRef<HTMLTextAreaElement | null>(null);
  const value = text ?? stored.data?.text ?? '';
  const problems = check?.problems ?? [];

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
    try {
      setCheck(
        await api<ManifestCheckResult>(`/api/v1/farms/${enc(farm)}/manifest/check`, {
          method: 'POST',
          body: { text: value, files },
        }),
      );
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const runProvision = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await api<ProvisionResult>(`/api/v1/farms/${enc(farm)}/provision`, {
        method: 'POST',
        body: { text: value, files, ...(host ? { broker: { host } } : {}) },
      });
      setResult(r);
      setCheck({ ok: true, problems: [], fields: 0, devices: r.devices.length });
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) {
        const body = e.body as { problems: ManifestProblem[] };
        setCheck({ ok: false, problems: body.problems, fields: 0, devices: 0 });
      } else setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" tabIndex={-1}>
      <p>
        <a href={href('partner', farm)}>← {t('devicesAndGateways')}</a>
      </p>
      <h1>{t('provisioning')}</h1>
      <ol class="steps">
        <li>{t('stepEdit')}</li>
        <li>{t('stepCheck')}</li>
        <li>{t('stepProvision')}</li>
      </ol>
      <ErrorBox error={error ?? stored.error} />
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
        <label>
          {t('brokerHost')}
          <input
            value={host}
            placeholder="192.168.1.10"
            onInput={(e) => setHost((e.target as HTMLInputElement).value)}
          />
        </label>
        <div class="actions">
          <button type="button" disabled={busy} onClick={() => void runCheck()}>
            {t('check')}
          </button>
          <button
            type="button"
            class="primary"
            disabled={busy || (check !== null && !check.ok)}
            onClick={() => void runProvision()}
          >
            {t('provision')}
          </button>
        </div>
        <div id="manifest-problems" aria-live="polite">
          {check?.ok ? (
            <p class="ok" data-testid="manifest-ok">
              {t('manifestValid')}
            </p>
          ) : null}
          {problems.length ? (
            <>
              <p class="error" role="alert">
                {t('problemsFound').replace('{n}', String(problems.length))}
              </p>
              <ul class="problems" data-testid="problems">
                {problems.map((p, i) => (
                  <li key={i}>
                    <button
                      type="button"
                      class="link"
                      onClick={() => goToLine(editor.current, p.line, p.column)}
                      data-line={p.line ?? ''}
                    >
                      {p.line !== null
                        ? t('lineCol')
                            .replace('{line}', String(p.line))
                            .replace('{col}', String(p.column ?? 1))
                        : t('wholeFile')}
                    </button>{' '}
                    <span translate={false}>{p.message}</span>
                    {p.expected ? (
                      <span class="muted">
                        {' '}
                        — {t('expected')} <span translate={false}>{p.expected}</span>
                      </span>
                    ) : null}
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
