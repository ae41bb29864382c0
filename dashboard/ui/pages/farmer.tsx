// The farmer's pages, phone first: the farm with live sensor tiles and its fields on a map; a
// field with its heatmap, zones and charts; tips to act on, dismiss or automate; approved
// recommendations with their map and prescription downloads; automations — written and edited in
// a form, with logs and a manual override.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { DeviceView, LiveReadingEvent } from '../../../protocol/api.ts';
import type { FarmFields, FieldDetail, KitSummary, Series, SeriesRange } from '../../../protocol/views.ts';
import type { TipView, AutomationCreate, AutomationView } from '../../../protocol/review.ts';
import type { ActuatorCommand, AutomationLimits } from '../../../protocol/automation.ts';
import { METRICS, isMetricName } from '../../../protocol/metrics.ts';
import { ApiError, api, qs } from '../api.ts';
import { useI18n, type Lang } from '../i18n.ts';
import { href } from '../route.ts';
import { useLive } from '../live.ts';
import { displayUnit, fmtDate, fmtNumber, fmtTime, fmtValue, metricName, triggerParts } from '../format.ts';
import { reviewApi } from '../review-api.ts';
import { ErrorBox, Freshness, Loading, Rate, Section, useLoad } from '../components/common.tsx';
import { BASE_LAYER_KEY, FieldMap, type MapPolygon } from '../components/FieldMap.tsx';
import { Chart } from '../components/Chart.tsx';

const enc = encodeURIComponent;
const HIDDEN_TILE_METRICS = new Set(['rssi', 'snr']);
/** File format names are names, the same in every language. */
const FORMAT_NAMES = { isoxml: 'ISOXML', shp: 'Shapefile', geojson: 'GeoJSON', csv: 'CSV' } as const;

/** Devices of a farm with their latest values, kept current by the live stream. */
function useLiveDevices(farm: string) {
  const devices = useLoad(() => api<DeviceView[]>('/api/v1/devices'), farm);
  const [patch, setPatch] = useState<Record<string, LiveReadingEvent>>({});
  const status = useLive(
    useCallback(
      (e: LiveReadingEvent) => {
        if (e.farm !== farm) return;
        setPatch((p) => {
          const key = `${e.device}/${e.metric}`;
          const old = p[key];
          if (old && Date.parse(old.time) > Date.parse(e.time)) return p;
          return { ...p, [key]: e };
        });
      },
      [farm],
    ),
  );
  const merged = useMemo(() => {
    const list = (devices.data ?? []).filter((d) => d.farm === farm);
    return list.map((d) => {
      const latest = d.latest.map((l) => {
        const p = patch[`${d.id}/${l.metric}`];
        return p && Date.parse(p.time) >= Date.parse(l.time)
          ? { ...l, value: p.value, time: p.time, flags: p.flags }
          : l;
      });
      for (const p of Object.values(patch))
        if (p.device === d.id && !latest.some((l) => l.metric === p.metric))
          latest.push({ metric: p.metric, value: p.value, unit: p.unit, time: p.time, flags: p.flags });
      const lastSeen = latest.reduce<string | null>((m, l) => (m && m > l.time ? m : l.time), d.lastSeen);
      return { ...d, latest, lastSeen };
    });
  }, [devices.data, patch, farm]);
  return { devices: merged, loading: devices.loading, error: devices.error, status };
}

function Tile({
  device,
  metric,
  value,
  unit,
  time,
  flags,
}: {
  device: DeviceView;
  metric: string;
  value: number;
  unit: string;
  time: string;
  flags: string[];
}) {
  const { lang, t } = useI18n();
  const v = fmtValue(metric, value, unit, lang);
  return (
    <li class="tile" data-testid={`tile-${device.id}-${metric}`}>
      <span class="tile-metric">{metricName(metric, lang)}</span>
      <span class="tile-value">
        <span class="num" data-testid="value">
          {v.value}
        </span>{' '}
        <span translate={false} class="unit">
          {v.unit}
        </span>
      </span>
      <Freshness time={time} />
      {flags.length ? (
        <span class="flag" title={flags.join(', ')}>
          {t('flagged')}
        </span>
      ) : null}
    </li>
  );
}

export function LiveTiles({ devices, status }: { devices: DeviceView[]; status: string }) {
  const { t } = useI18n();
  return (
    <div>
      <p class="muted live-state" aria-live="polite">
        {status === 'open' ? t('liveOn') : t('liveConnecting')}
      </p>
      {devices.map((d) => (
        <div key={d.id} class="device-tiles">
          <h3>
            {d.name ?? d.id} <Freshness time={d.lastSeen} />
          </h3>
          <ul class="tiles">
            {d.latest
              .filter((l) => !HIDDEN_TILE_METRICS.has(l.metric))
              .map((l) => (
                <Tile key={l.metric} device={d} {...l} />
              ))}
          </ul>
          {d.latest.length === 0 ? <p class="muted">{t('noData')}</p> : null}
        </div>
      ))}
    </div>
  );
}

const severityClass = (s: string) => `sev sev-${s}`;

function tipText(v: TipView, lang: Lang) {
  return { title: v.tip.title[lang], text: v.tip.text[lang] };
}

export function FarmHome({ farm }: { farm: string }) {
  const { t, lang } = useI18n();
  const fields = useLoad(() => api<FarmFields>(`/api/v1/farms/${enc(farm)}/fields`), farm);
  const live = useLiveDevices(farm);
  const tips = useLoad(() => reviewApi.tips(farm).catch(() => [] as TipView[]), farm);
  const polygons: MapPolygon[] = (fields.data?.fields ?? [])
    .filter((f) => f.boundary)
    .map((f) => ({ id: f.id, geometry: f.boundary as GeoJSON.Geometry, label: f.name }));
  return (
    <main id="main" tabIndex={-1}>
      <h1>{fields.data?.name ?? farm}</h1>
      <ErrorBox error={fields.error ?? live.error} />
      <Section title={t('liveSensors')} id="live-h">
        {live.loading ? <Loading /> : <LiveTiles devices={live.devices} status={live.status} />}
      </Section>
      <Section title={t('fields')} id="fields-h">
        {fields.loading ? <Loading /> : null}
        {polygons.length ? (
          <FieldMap
            fields={polygons}
            label={t('fieldMap')}
            onSelect={(id) => (location.hash = href('farm', farm, 'field', id))}
          />
        ) : null}
        <ul class="cards">
          {(fields.data?.fields ?? []).map((f) => (
            <li key={f.id}>
              <a class="field-link" href={href('farm', farm, 'field', f.id)} data-testid={`field-${f.id}`}>
                <strong>{f.name}</strong>
                <span class="muted">
                  {f.crop ? cropName(f.crop, t) : ''}
                  {f.latest?.ndvi !== undefined && f.latest?.ndvi !== null ? (
                    <>
                      {' · '}
                      <span translate={false}>NDVI</span> {fmtNumber(f.latest.ndvi, lang, 2)} (
                      {fmtDate(f.latest.acquired, lang)})
                    </>
                  ) : (
                    ` · ${t('noImagery')}`
                  )}
                </span>
              </a>
            </li>
          ))}
        </ul>
      </Section>
      <Section title={t('tips')} id="tips-h">
        {(tips.data ?? [])
          .filter((x) => x.state === 'open')
          .slice(0, 3)
          .map((v) => (
            <p key={v.tip.id} class={severityClass(v.tip.severity)}>
              <span class="sev-label">{t(`severity_${v.tip.severity}`)}</span> {tipText(v, lang).title}
            </p>
          ))}
        {(tips.data ?? []).filter((x) => x.state === 'open').length === 0 ? (
          <p class="muted">{t('noTips')}</p>
        ) : null}
        <p>
          <a href={href('farm', farm, 'tips')}>{t('allTips')}</a>
        </p>
      </Section>
    </main>
  );
}

function cropName(crop: string, t: (k: string) => string): string {
  const key = `crop_${crop.replace(/-/g, '_')}`;
  const v = t(key);
  return v === key ? crop : v;
}

const RANGES: SeriesRange[] = ['24h', '7d', 'season'];

function Charts({ farm, devices, timeZone }: { farm: string; devices: DeviceView[]; timeZone: string }) {
  const { t, lang } = useI18n();
  const [device, setDevice] = useState((devices.find((d) => d.latest.length > 0) ?? devices[0])?.id ?? '');
  const dev = devices.find((d) => d.id === device) ?? devices[0];
  const metrics = (dev?.latest ?? []).map((l) => l.metric).filter((m) => !HIDDEN_TILE_METRICS.has(m));
  const [metric, setMetric] = useState('');
  const m = metrics.includes(metric) ? metric : (metrics[0] ?? '');
  const [range, setRange] = useState<SeriesRange>('24h');
  const series = useLoad(
    () =>
      dev && m
        ? api<Series>(`/api/v1/farms/${enc(farm)}/series${qs({ device: dev.id, metric: m, range })}`)
        : Promise.resolve(undefined),
    `${dev?.id}/${m}/${range}`,
  );
  if (!dev) return <p class="muted">{t('noDevicesInField')}</p>;
  const unit = series.data ? fmtValue(m, 1, series.data.unit, lang).unit : '';
  const factor = m === 'soil_vwc' ? 100 : 1;
  const scale = (a: (number | null)[] | undefined) => a?.map((x) => (x === null ? null : x * factor));
  return (
    <div class="charts">
      <div class="controls">
        <label>
          {t('device')}
          <select value={dev.id} onChange={(e) => setDevice((e.target as HTMLSelectElement).value)}>
            {devices.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name ?? d.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('metric')}
          <select value={m} onChange={(e) => setMetric((e.target as HTMLSelectElement).value)}>
            {metrics.map((x) => (
              <option key={x} value={x}>
                {metricName(x, lang)}
              </option>
            ))}
          </select>
        </label>
        <div role="group" aria-label={t('range')} class="seg">
          {RANGES.map((r) => (
            <button key={r} type="button" aria-pressed={r === range} onClick={() => setRange(r)}>
              {t(`range_${r}`)}
            </button>
          ))}
        </div>
      </div>
      <ErrorBox error={series.error} />
      {series.data && series.data.t.length > 0 ? (
        <Chart
          t={series.data.t}
          v={scale(series.data.v)!}
          min={scale(series.data.min)}
          max={scale(series.data.max)}
          label={`${metricName(m, lang)} (${dev.name ?? dev.id})`}
          from={series.data.from}
          to={series.data.to}
          timeLabel={t('time')}
          bandLabels={[t('minimum'), t('maximum')]}
          unit={unit}
          timeZone={timeZone}
        />
      ) : series.loading ? (
        <Loading />
      ) : (
        <p class="muted">{t('noData')}</p>
      )}
    </div>
  );
}

export function FieldPage({ farm, field }: { farm: string; field: string }) {
  const { t, lang } = useI18n();
  const detail = useLoad(
    () => api<FieldDetail>(`/api/v1/farms/${enc(farm)}/fields/${enc(field)}`),
    `${farm}/${field}`,
  );
  const farmFields = useLoad(() => api<FarmFields>(`/api/v1/farms/${enc(farm)}/fields`), farm);
  const live = useLiveDevices(farm);
  const [index, setIndex] = useState('ndvi');
  const [showZones, setShowZones] = useState(true);
  const scene = detail.data?.scenes[0];
  const zones = useLoad(
    () =>
      scene
        ? api<{
            features: Array<{ id: string; geometry: GeoJSON.Geometry; properties: Record<string, unknown> }>;
          }>(`/api/v1/farms/${enc(farm)}/fields/${enc(field)}/scenes/${enc(scene.sceneId)}/zones`)
        : Promise.resolve(undefined),
    scene?.sceneId ?? '-',
  );
  const layer = scene?.maps.find((m) => m.index === index) ?? scene?.maps[0];
  const f = detail.data?.field;
  const tz = detail.data?.timezone ?? 'Asia/Tokyo';
  const fieldPolys = useMemo<MapPolygon[]>(
    () =>
      f?.boundary
        ? [{ id: f.id, geometry: f.boundary as GeoJSON.Geometry, label: f.name, selected: true }]
        : [],
    [f],
  );
  const zonePolys = useMemo<MapPolygon[]>(
    () =>
      (showZones ? (zones.data?.features ?? []) : []).map((z) => {
        const p = z.properties as {
          zone?: number;
          k?: number;
          indices?: Record<string, { mean?: number | null }>;
        };
        const mean = p.indices?.[layer?.index ?? 'ndvi']?.mean;
        return {
          id: z.id,
          geometry: z.geometry,
          label: `${t('zone')} ${p.zone ?? ''}${mean !== undefined && mean !== null ? ` · ${(layer?.index ?? 'ndvi').toUpperCase()} ${mean.toFixed(2)}` : ''}`,
        };
      }),
    [zones.data, showZones, layer, t],
  );
  const points = useMemo(
    () =>
      (farmFields.data?.devices ?? [])
        .filter((d) => d.field === field && d.position)
        .map((d) => ({ id: d.id, position: d.position!, label: d.name ?? d.id })),
    [farmFields.data, field],
  );
  const overlay = useMemo(
    () =>
      layer && layer.available
        ? { url: layer.url, bounds: layer.bounds, alt: `${layer.index.toUpperCase()} ${t('heatmap')}` }
        : null,
    [layer, t],
  );
  const fieldDevices = live.devices.filter((d) => d.field === field);
  return (
    <main id="main" tabIndex={-1}>
      <p>
        <a href={href('farm', farm)}>← {t('backToFarm')}</a>
      </p>
      <h1>{f?.name ?? field}</h1>
      <ErrorBox error={detail.error} />
      {f ? (
        <p class="muted">
          {f.crop ? cropName(f.crop, t) : ''}
          {f.variety ? (
            <>
              {' · '}
              <span translate={false}>{f.variety}</span>
            </>
          ) : null}
          {f.plantingDate ? ` · ${t('planted')} ${fmtDate(f.plantingDate, lang, tz)}` : ''}
        </p>
      ) : null}
      <Section title={t('fieldMap')} id="map-h">
        {scene ? (
          <div class="controls">
            <label>
              {t('index')}
              <select value={layer?.index} onChange={(e) => setIndex((e.target as HTMLSelectElement).value)}>
                {scene.maps.map((m) => (
                  <option key={m.index} value={m.index} translate={false}>
                    {m.index.toUpperCase()}
                  </option>
                ))}
              </select>
            </label>
            <label class="check">
              <input
                type="checkbox"
                checked={showZones}
                onChange={(e) => setShowZones((e.target as HTMLInputElement).checked)}
              />
              {t('showZones')}
            </label>
          </div>
        ) : null}
        {f ? (
          <FieldMap
            fields={fieldPolys}
            zones={zonePolys}
            overlay={overlay}
            points={points}
            label={t('fieldMap')}
          />
        ) : (
          <Loading />
        )}
        {scene ? (
          <div class="scene" data-testid="scene">
            <p>
              {t('sceneOf')} {fmtDate(scene.acquired, lang, tz)} · {t('validPixels')}{' '}
              {fmtNumber(scene.validFraction * 100, lang, 0)}% · {t('zones')} {scene.zoneCount}
            </p>
            {layer ? (
              <p class="legend">
                <img src={layer.legendUrl} alt={`${t('legend')} ${layer.index.toUpperCase()}`} height={40} />
                <span translate={false}>
                  {layer.index.toUpperCase()} {fmtNumber(scene.indices[layer.index]?.mean ?? null, lang, 2)}
                </span>
                {!layer.available ? <span class="muted"> · {t('heatmapPending')}</span> : null}
              </p>
            ) : null}
          </div>
        ) : detail.data ? (
          <p class="muted">{t('noImagery')}</p>
        ) : null}
        <BaseLayerSetting />
      </Section>
      <Section title={t('sensors')} id="sensors-h">
        <LiveTiles devices={fieldDevices} status={live.status} />
      </Section>
      <Section title={t('charts')} id="charts-h">
        {live.loading ? <Loading /> : <Charts farm={farm} devices={fieldDevices} timeZone={tz} />}
      </Section>
    </main>
  );
}

function BaseLayerSetting() {
  const { t } = useI18n();
  const [url, setUrl] = useState(localStorage.getItem(BASE_LAYER_KEY) ?? '');
  return (
    <details class="settings">
      <summary>{t('baseLayer')}</summary>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (url) localStorage.setItem(BASE_LAYER_KEY, url);
          else localStorage.removeItem(BASE_LAYER_KEY);
          location.reload();
        }}
      >
        <label>
          {t('baseLayerUrl')}
          <input
            type="url"
            value={url}
            placeholder="https://…/{z}/{x}/{y}.png"
            onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit">{t('save')}</button>
      </form>
    </details>
  );
}

export function FarmerTips({ farm }: { farm: string }) {
  const { t, lang } = useI18n();
  const [view, setView] = useState<'active' | 'history'>('active');
  const tips = useLoad(() => reviewApi.tips(farm, view), `${farm}/${view}`);
  const [busy, setBusy] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');
  const act = async (v: TipView, what: 'act' | 'dismiss' | 'automate') => {
    setBusy(v.tip.id);
    setError(null);
    try {
      if (what === 'act') await reviewApi.tipAct(v.tip.id);
      else if (what === 'dismiss') await reviewApi.tipDismiss(v.tip.id);
      else await reviewApi.tipAutomate(v.tip.id, { enabled: false });
      setDone(
        t(what === 'act' ? 'tipActedDone' : what === 'dismiss' ? 'tipDismissedDone' : 'tipAutomatedDone'),
      );
      tips.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy('');
    }
  };
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('tips')}</h1>
      <div role="group" aria-label={t('tipView')} class="seg">
        <button type="button" aria-pressed={view === 'active'} onClick={() => setView('active')}>
          {t('tipsActive')}
        </button>
        <button type="button" aria-pressed={view === 'history'} onClick={() => setView('history')}>
          {t('tipsHistory')}
        </button>
      </div>
      <p role="status" class="ok">
        {done}
      </p>
      <ErrorBox error={error ?? tips.error} />
      {tips.loading ? <Loading /> : null}
      {tips.data?.length === 0 ? <p class="muted">{t('noTips')}</p> : null}
      <ul class="cards">
        {(tips.data ?? []).map((v) => {
          const { title, text } = tipText(v, lang);
          return (
            <li
              key={v.tip.id}
              class={`card tip ${severityClass(v.tip.severity)}`}
              data-testid={`tip-${v.tip.id}`}
            >
              <h2>
                <span class="sev-label">{t(`severity_${v.tip.severity}`)}</span> {title}
              </h2>
              <p>{text}</p>
              <p class="muted">
                {fmtTime(v.tip.created, lang)} · {t(`tipState_${v.state}`)}
                {v.expired ? ` · ${t('expired')}` : ''}
              </p>
              <details>
                <summary>{t('evidence')}</summary>
                <ul class="evidence">
                  {v.tip.evidence.thresholds.map((th) => (
                    <li key={th.name}>
                      <span translate={false}>
                        {th.name}: {th.value} {th.comparison} {th.threshold} {th.unit}
                      </span>
                    </li>
                  ))}
                  {v.tip.evidence.quantities.map((q) => (
                    <li key={q.name} translate={false}>
                      {q.name}: {fmtNumber(q.value, lang, 2)} {q.unit}
                    </li>
                  ))}
                  <li class="muted">
                    {t('rule')}{' '}
                    <span translate={false}>
                      {v.tip.evidence.rule.id}@{v.tip.evidence.rule.version}
                    </span>
                  </li>
                </ul>
              </details>
              {v.tip.action?.type === 'fertilize' && v.tip.action.recommendation ? (
                <p>
                  <a
                    href={href('farm', farm, 'recommendations', v.tip.action.recommendation)}
                    data-testid="tip-prescription"
                  >
                    {t('viewPrescription')}
                  </a>
                </p>
              ) : null}
              {v.state === 'open' && !v.expired ? (
                <div class="actions">
                  <button
                    type="button"
                    class="primary"
                    disabled={busy === v.tip.id}
                    onClick={() => void act(v, 'act')}
                  >
                    {t('tipAct')}
                  </button>
                  <button type="button" disabled={busy === v.tip.id} onClick={() => void act(v, 'dismiss')}>
                    {t('tipDismiss')}
                  </button>
                  {v.automatable ? (
                    <button
                      type="button"
                      disabled={busy === v.tip.id}
                      onClick={() => void act(v, 'automate')}
                    >
                      {t('tipAutomate')}
                    </button>
                  ) : null}
                </div>
              ) : null}
            </li>
          );
        })}
      </ul>
    </main>
  );
}

const rateColour = (v: number, lo: number, hi: number) => {
  const x = hi > lo ? (v - lo) / (hi - lo) : 0.5;
  // Light to dark green: more nitrogen, darker.
  const c = (a: number, b: number) => Math.round(a + (b - a) * x);
  return `rgb(${c(229, 0)}, ${c(245, 90)}, ${c(224, 50)})`;
};

export function FarmerRecommendations({ farm, id }: { farm: string; id?: string }) {
  const { t, lang } = useI18n();
  const list = useLoad(() => reviewApi.approved(farm), farm);
  const chosen = id ?? list.data?.[0]?.id;
  const one = useLoad(
    () => (chosen ? reviewApi.approvedOne(chosen) : Promise.resolve(undefined)),
    `${farm}/${chosen}`,
  );
  const fields = useLoad(() => api<FarmFields>(`/api/v1/farms/${enc(farm)}/fields`), farm);
  const r = one.data;
  const zones = useMemo<MapPolygon[]>(() => {
    if (!r) return [];
    const rates = r.zones.map((z) => z.rate.kgNHa);
    const lo = Math.min(...rates);
    const hi = Math.max(...rates);
    return r.recommendation.zones.map((z) => {
      const applied = r.zones.find((a) => a.id === z.id);
      const kg = applied?.rate.kgNHa ?? z.rate.kgNHa;
      return {
        id: z.id,
        geometry: z.geometry as GeoJSON.Geometry,
        fill: rateColour(kg, lo, hi),
        label: `${t('zone')} ${z.zone}: ${lang === 'ja' ? `${fmtNumber(kg / 10, lang, 1)} kg/10a` : `${fmtNumber(kg, lang, 0)} kg/ha`}`,
      };
    });
  }, [r, lang, t]);
  const field = fields.data?.fields.find((f) => f.id === r?.field);
  const fieldPolys = useMemo<MapPolygon[]>(
    () =>
      field?.boundary
        ? [{ id: field.id, geometry: field.boundary as GeoJSON.Geometry, label: field.name }]
        : [],
    [field],
  );
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('recommendations')}</h1>
      <ErrorBox error={list.error ?? one.error} />
      {list.loading ? <Loading /> : null}
      {list.data?.length === 0 ? <p class="muted">{t('noRecommendations')}</p> : null}
      {list.data && list.data.length > 1 ? (
        <ul class="list">
          {list.data.map((x) => (
            <li key={x.id}>
              <a
                href={href('farm', farm, 'recommendations', x.id)}
                aria-current={x.id === chosen ? 'page' : undefined}
              >
                {fields.data?.fields.find((f) => f.id === x.field)?.name ?? x.field} ·{' '}
                {fmtDate(x.approvedAt, lang)}
              </a>
            </li>
          ))}
        </ul>
      ) : null}
      {r ? (
        <article class="card" data-testid={`recommendation-${r.id}`}>
          <h2>
            {field?.name ?? r.field} · {r.product.name[lang]}
          </h2>
          <p class="muted">
            {t('approvedBy')} <span translate={false}>{r.approvedBy}</span> · {fmtTime(r.approvedAt, lang)}
            {r.autoApproved ? ` · ${t('autoApproved')}` : ''}
          </p>
          <FieldMap fields={fieldPolys} zones={zones} label={t('prescriptionMap')} />
          <div class="scroll">
            <table class="table">
              <caption class="sr-only">{t('zoneRates')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('zone')}</th>
                  <th scope="col">{t('area')}</th>
                  <th scope="col">{t('nitrogenRate')}</th>
                  <th scope="col">{t('productRate')}</th>
                </tr>
              </thead>
              <tbody>
                {r.zones.map((z) => (
                  <tr key={z.id} data-testid={`zone-${z.id}`}>
                    <th scope="row">{z.zone}</th>
                    <td>
                      {fmtNumber(z.areaHa * 10, lang, 1)} <span translate={false}>a</span>
                    </td>
                    <td>
                      <Rate kgHa={z.rate.kgNHa} />
                      {z.edited ? (
                        <span class="edited" title={z.reason ?? ''}>
                          {' '}
                          {t('editedByOfficer')}
                        </span>
                      ) : null}
                    </td>
                    <td>
                      <Rate kgHa={z.rate.productKgHa} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p>
            {t('totalProduct')} {fmtNumber(r.totals.productKg, lang, 0)} <span translate={false}>kg</span> ·{' '}
            {t('totalN')} {fmtNumber(r.totals.nKg, lang, 1)} <span translate={false}>kg</span>
          </p>
          <h3>{t('downloads')}</h3>
          <ul class="downloads">
            {(['isoxml', 'shp', 'geojson', 'csv'] as const).map((fmt) => (
              <li key={fmt}>
                <a href={r.downloads[fmt]} download data-testid={`download-${fmt}`}>
                  <span translate={false}>{FORMAT_NAMES[fmt]}</span> ({t(`format_${fmt}`)})
                </a>
              </li>
            ))}
          </ul>
        </article>
      ) : null}
    </main>
  );
}

/** A trigger in the reader's language: 条件 土壌センサー 畑1号 土壌水分 ＜ 22 %, 目標範囲 … 水位 3–5 cm. */
function TriggerText({ trigger, devices }: { trigger: AutomationView['trigger']; devices: DeviceView[] }) {
  const { t, lang } = useI18n();
  const p = triggerParts(trigger, lang);
  // The sensor by the name the farmer gave it, kept as written.
  const sensor = devices.find((d) => d.id === trigger.device)?.name ?? trigger.device;
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

// ---------------------------------------------------------------------------------------------
// Writing an automation: a form with pickers for what the farm has, values in the units farmers
// use (soil moisture in %, water level in cm, durations in minutes), checks that mirror the
// schema so most mistakes show before saving — the server stays the authority, and what it
// refuses is shown beside the form, the field it names marked.
// ---------------------------------------------------------------------------------------------

type Op = '<' | '<=' | '>' | '>=';
type Kind = 'threshold' | 'band';
type Trigger = AutomationView['trigger'];
type Errors = Record<string, string>;

/** A metric a sensor can trigger on, as the farmer enters it: `factor` turns storage into display. */
interface MetricChoice {
  id: string;
  unit: string;
  factor: number;
  /** The physically possible range in display units; the kit's narrower one is checked by the server. */
  min?: number;
  max?: number;
}
interface SensorChoice {
  id: string;
  name: string;
  field: string | null;
  metrics: MetricChoice[];
}
interface ActuatorChoice {
  id: string;
  name: string;
  /** The command ids of its kit (GET /api/v1/kits). */
  commands: string[];
}
interface FarmChoices {
  sensors: SensorChoice[];
  actuators: ActuatorChoice[];
}

/**
 * Commands that take a number of minutes. The kit summary names a kit's commands but not their
 * parameters, so this is the reference water gate's `open_for` (minutes 1–720) as its kit defines it.
 */
const MINUTES_COMMANDS = new Set(['open_for']);
const MAX_OPEN_MINUTES = 720;
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
/** What PlainName refuses: < >, control characters and bidi overrides. */
const notPlain = (s: string) =>
  [...s].some((ch) => {
    const c = ch.codePointAt(0)!;
    return (
      ch === '<' ||
      ch === '>' ||
      c < 0x20 ||
      c === 0x7f ||
      (c >= 0x202a && c <= 0x202e) ||
      (c >= 0x2066 && c <= 0x2069)
    );
  });

/** Rounds away the binary noise of a unit conversion (0.22 × 100 = 22.000000000000004). */
const clean = (x: number) => Number(x.toPrecision(12));
const parseNum = (s: string) => (s.trim() === '' ? NaN : Number(s));

/** The sensors (with their metrics) and actuators (with their commands) of a farm's devices. */
function farmChoices(devices: DeviceView[], kits: KitSummary[]): FarmChoices {
  const kitOf = new Map(kits.map((k) => [k.id, k]));
  const sensors: SensorChoice[] = [];
  const actuators: ActuatorChoice[] = [];
  for (const d of devices) {
    const kit = d.kit ? kitOf.get(d.kit) : undefined;
    const name = d.name ?? d.id;
    const metrics = (kit ? kit.metrics : d.latest.map((l) => l.metric))
      .filter((m) => !HIDDEN_TILE_METRICS.has(m))
      .map((m): MetricChoice => {
        const stored = isMetricName(m) ? METRICS[m].unit : (d.latest.find((l) => l.metric === m)?.unit ?? '');
        const shown = displayUnit(m, stored);
        return {
          id: m,
          unit: shown.unit,
          factor: shown.factor,
          ...(isMetricName(m)
            ? { min: clean(METRICS[m].min * shown.factor), max: clean(METRICS[m].max * shown.factor) }
            : {}),
        };
      });
    if (metrics.length > 0) sensors.push({ id: d.id, name, field: d.field, metrics });
    if (kit && kit.commands.length > 0) actuators.push({ id: d.id, name, commands: kit.commands });
  }
  return { sensors, actuators };
}

interface CommandDraft {
  device: string;
  command: string;
  minutes: string;
  /** The command as stored, so an edit keeps the parameters the form does not show. */
  orig?: { command: string; params: Record<string, number> };
}

interface Draft {
  kind: Kind;
  name: { ja: string; en: string };
  enabled: boolean;
  sensor: string;
  metric: string;
  op: Op;
  /** Threshold and band in display units, as typed. */
  value: string;
  low: string;
  high: string;
  action: CommandDraft;
  below: CommandDraft;
  above: CommandDraft;
  maxRunsPerDay: string;
  maxOpenMinutes: string;
  cooldownMinutes: string;
  quiet: boolean;
  quietFrom: string;
  quietTo: string;
  /** Limits the form does not show (set by a tip's automation), kept on an edit. */
  extraLimits: Pick<AutomationLimits, 'confirmSeconds' | 'retries'>;
}

/** The limits a new automation starts with, as the tips' automations have them. */
function limitDefaults(kind: Kind) {
  return kind === 'threshold'
    ? { maxRunsPerDay: '2', maxOpenMinutes: '30', cooldownMinutes: '240', quiet: true }
    : { maxRunsPerDay: '12', maxOpenMinutes: '180', cooldownMinutes: '30', quiet: false };
}

const takesMinutes = (c: CommandDraft) =>
  MINUTES_COMMANDS.has(c.command) || (c.orig?.command === c.command && c.orig.params.minutes !== undefined);

/** The command to preselect on an actuator: what the slot usually does, else its first. */
function preferredCommand(a: ActuatorChoice | undefined, slot: 'action' | 'below' | 'above'): string {
  if (!a) return '';
  const wish = slot === 'action' ? ['open_for', 'open'] : slot === 'below' ? ['open'] : ['close'];
  return wish.find((c) => a.commands.includes(c)) ?? a.commands[0] ?? '';
}

function commandDraft(c: ActuatorCommand | undefined): CommandDraft {
  if (!c) return { device: '', command: '', minutes: '30' };
  return {
    device: c.device,
    command: c.command,
    minutes: c.params?.minutes !== undefined ? String(c.params.minutes) : '30',
    orig: { command: c.command, params: c.params ?? {} },
  };
}

function metricChoice(c: FarmChoices, sensor: string, metric: string): MetricChoice {
  const m = c.sensors.find((s) => s.id === sensor)?.metrics.find((x) => x.id === metric);
  if (m) return m;
  const shown = displayUnit(metric, isMetricName(metric) ? METRICS[metric].unit : '');
  return { id: metric, unit: shown.unit, factor: shown.factor };
}

/** The form's starting point: an automation to edit, or a new one on the farm's first devices. */
function draftOf(a: AutomationView | undefined, c: FarmChoices): Draft {
  if (a) {
    const m = metricChoice(c, a.trigger.device, a.trigger.metric);
    const show = (v: number) => String(clean(v * m.factor));
    const { confirmSeconds, retries } = a.limits;
    return {
      kind: a.trigger.kind,
      name: { ...a.name },
      enabled: a.enabled,
      sensor: a.trigger.device,
      metric: a.trigger.metric,
      op: a.trigger.kind === 'threshold' ? a.trigger.op : '<',
      value: a.trigger.kind === 'threshold' ? show(a.trigger.value) : '',
      low: a.trigger.kind === 'band' ? show(a.trigger.low) : '',
      high: a.trigger.kind === 'band' ? show(a.trigger.high) : '',
      action: commandDraft(a.action),
      below: commandDraft(a.below),
      above: commandDraft(a.above),
      maxRunsPerDay: String(a.limits.maxRunsPerDay),
      maxOpenMinutes: String(a.limits.maxOpenMinutes),
      cooldownMinutes: a.limits.cooldownMinutes === undefined ? '' : String(a.limits.cooldownMinutes),
      quiet: !!a.limits.quietHours,
      quietFrom: a.limits.quietHours?.from ?? '22:00',
      quietTo: a.limits.quietHours?.to ?? '05:00',
      extraLimits: {
        ...(confirmSeconds !== undefined ? { confirmSeconds } : {}),
        ...(retries !== undefined ? { retries } : {}),
      },
    };
  }
  const sensor = c.sensors[0];
  const actuator = c.actuators[0];
  const slot = (s: 'action' | 'below' | 'above'): CommandDraft => ({
    device: actuator?.id ?? '',
    command: preferredCommand(actuator, s),
    minutes: '30',
  });
  return {
    kind: 'threshold',
    name: { ja: '', en: '' },
    enabled: true,
    sensor: sensor?.id ?? '',
    metric: sensor?.metrics[0]?.id ?? '',
    op: '<',
    value: '',
    low: '',
    high: '',
    action: slot('action'),
    below: slot('below'),
    above: slot('above'),
    ...limitDefaults('threshold'),
    quietFrom: '22:00',
    quietTo: '05:00',
    extraLimits: {},
  };
}

/** Every problem the form can see before asking the server, by field; empty when it looks right. */
function checkDraft(d: Draft, c: FarmChoices, t: (k: string) => string): Errors {
  const e: Errors = {};
  const ja = d.name.ja.trim();
  const en = d.name.en.trim();
  if ((!ja && !en) || notPlain(ja + en) || ja.length > 200 || en.length > 200) e.name = t('errName');

  const sensor = c.sensors.find((s) => s.id === d.sensor);
  const metric = sensor?.metrics.find((m) => m.id === d.metric);
  if (!sensor) e.sensor = t('choose');
  else if (!metric) e.metric = t('choose');
  const num = (key: string, s: string): number => {
    const v = parseNum(s);
    if (!Number.isFinite(v)) e[key] = t('errNumber');
    else if (metric?.min !== undefined && metric.max !== undefined && (v < metric.min || v > metric.max))
      e[key] = t('errRange').replace('{min}', String(metric.min)).replace('{max}', String(metric.max));
    return v;
  };
  const int = (key: string, s: string, min: number, max: number): number => {
    const v = parseNum(s);
    if (!Number.isInteger(v) || v < min || v > max)
      e[key] = t('errInteger').replace('{min}', String(min)).replace('{max}', String(max));
    return v;
  };
  if (d.kind === 'threshold') num('value', d.value);
  else {
    const low = num('low', d.low);
    const high = num('high', d.high);
    if (!e.low && !e.high && !(low < high)) e.high = t('errLowHigh');
  }

  const maxOpen = int('maxOpenMinutes', d.maxOpenMinutes, 1, MAX_OPEN_MINUTES);
  int('maxRunsPerDay', d.maxRunsPerDay, 1, 96);
  if (d.cooldownMinutes.trim() !== '') int('cooldownMinutes', d.cooldownMinutes, 0, 1440);
  if (d.quiet) {
    if (!HHMM.test(d.quietFrom) || !HHMM.test(d.quietTo)) e.quiet = t('errTime');
    else if (d.quietFrom === d.quietTo) e.quiet = t('errQuiet');
  }

  const command = (slot: 'action' | 'below' | 'above', x: CommandDraft) => {
    if (!x.device) return;
    const a = c.actuators.find((y) => y.id === x.device);
    if (!a) e[`${slot}.device`] = t('choose');
    else if (!a.commands.includes(x.command)) e[`${slot}.command`] = t('choose');
    else if (takesMinutes(x)) {
      const m = int(`${slot}.minutes`, x.minutes, 1, MAX_OPEN_MINUTES);
      if (!e[`${slot}.minutes`] && !e.maxOpenMinutes && m > maxOpen)
        e[`${slot}.minutes`] = t('errMinutesOverMax').replace('{max}', String(maxOpen));
    }
  };
  if (d.kind === 'threshold') {
    if (!d.action.device) e['action.device'] = t('choose');
    command('action', d.action);
  } else {
    if (!d.below.device && !d.above.device) e['below.device'] = t('errBandAction');
    command('below', d.below);
    command('above', d.above);
  }
  return e;
}

/** The automation a checked draft describes, in storage units (22 % → 0.22 m³/m³). */
function draftBody(d: Draft, c: FarmChoices, initial?: AutomationView): Omit<AutomationCreate, 'farm'> {
  const m = metricChoice(c, d.sensor, d.metric);
  const stored = (s: string) => clean(Number(s) / m.factor);
  const trigger: Trigger =
    d.kind === 'threshold'
      ? { kind: 'threshold', device: d.sensor, metric: d.metric, op: d.op, value: stored(d.value) }
      : { kind: 'band', device: d.sensor, metric: d.metric, low: stored(d.low), high: stored(d.high) };
  const command = (x: CommandDraft): ActuatorCommand | undefined => {
    if (!x.device) return undefined;
    const params: Record<string, number> = x.orig?.command === x.command ? { ...x.orig.params } : {};
    if (takesMinutes(x)) params.minutes = Number(x.minutes);
    return { device: x.device, command: x.command, ...(Object.keys(params).length ? { params } : {}) };
  };
  // The field is the sensor's, unless an edit keeps the sensor (and so the field it had).
  const field =
    initial && initial.trigger.device === d.sensor
      ? initial.field
      : (c.sensors.find((s) => s.id === d.sensor)?.field ?? undefined);
  const ja = d.name.ja.trim();
  const en = d.name.en.trim();
  const below = d.kind === 'band' ? command(d.below) : undefined;
  const above = d.kind === 'band' ? command(d.above) : undefined;
  const action = d.kind === 'threshold' ? command(d.action) : undefined;
  return {
    ...(field ? { field } : {}),
    name: { ja: ja || en, en: en || ja },
    enabled: d.enabled,
    trigger,
    ...(action ? { action } : {}),
    ...(below ? { below } : {}),
    ...(above ? { above } : {}),
    limits: {
      ...d.extraLimits,
      maxRunsPerDay: Number(d.maxRunsPerDay),
      maxOpenMinutes: Number(d.maxOpenMinutes),
      ...(d.cooldownMinutes.trim() !== '' ? { cooldownMinutes: Number(d.cooldownMinutes) } : {}),
      ...(d.quiet ? { quietHours: { from: d.quietFrom, to: d.quietTo } } : {}),
    },
  };
}

/** The form field a server problem's JSON pointer names (/trigger/low → low), or ''. */
function fieldOfPointer(pointer: string | undefined): string {
  const [a, b, c] = (pointer ?? '').split('/').filter(Boolean);
  if (a === 'name') return 'name';
  if (a === 'trigger') return b === 'device' || !b ? 'sensor' : b;
  if (a === 'action' || a === 'below' || a === 'above')
    return `${a}.${b === 'params' ? (c ?? 'minutes') : (b ?? 'device')}`;
  if (a === 'limits') return b === 'quietHours' ? 'quiet' : (b ?? '');
  return '';
}

/** A command in the reader's language; a kit's own command keeps its id. */
function commandName(command: string, t: (k: string) => string): string {
  if (command === 'open') return t('cmdOpen');
  if (command === 'close') return t('cmdClose');
  if (command === 'open_for') return t('cmdOpenFor');
  return command;
}
const knownCommand = (command: string) => ['open', 'close', 'open_for'].includes(command);

/** A field's problem under it, tied to the control by aria-describedby. */
function FieldError({ id, message }: { id: string; message: string | undefined }) {
  return message ? (
    <p class="error field-error" id={id}>
      {message}
    </p>
  ) : null;
}

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
  slot: 'action' | 'below' | 'above';
  legend: string;
  value: CommandDraft;
  onChange: (c: CommandDraft) => void;
  choices: FarmChoices;
  optional: boolean;
  errorOf: (key: string) => string | undefined;
}) {
  const { t } = useI18n();
  const actuator = choices.actuators.find((a) => a.id === value.device);
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
            const command = a?.commands.includes(value.command) ? value.command : preferredCommand(a, slot);
            onChange({ ...value, device, command });
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
                <option key={c} value={c} translate={knownCommand(c) ? undefined : false}>
                  {commandName(c, t)}
                </option>
              ))}
            </select>
          </label>
          <FieldError id={`${id}-command-err`} message={err('command')} />
        </>
      ) : null}
      {actuator && takesMinutes(value) ? (
        <>
          <label>
            {t('openMinutes')}
            <input
              id={`${id}-minutes`}
              type="number"
              inputMode="numeric"
              min={1}
              max={MAX_OPEN_MINUTES}
              step={1}
              value={value.minutes}
              {...invalid(`${id}-minutes`, err('minutes'))}
              onInput={(e) => onChange({ ...value, minutes: inputValue(e) })}
            />
          </label>
          <FieldError id={`${id}-minutes-err`} message={err('minutes')} />
        </>
      ) : null}
    </fieldset>
  );
}

function AutomationForm({
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
  const errorOf = (key: string) => errors[key] ?? (serverField === key ? t('serverRefused') : undefined);
  const sensor = choices.sensors.find((s) => s.id === draft.sensor);
  const metric = sensor?.metrics.find((m) => m.id === draft.metric);
  const unit = metric?.unit ? (
    <>
      {' '}
      <span translate={false}>({metric.unit})</span>
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
      if (err instanceof ApiError)
        setServerField(fieldOfPointer((err.body as { pointer?: string } | null)?.pointer));
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
  const intField = (
    key: 'maxRunsPerDay' | 'maxOpenMinutes' | 'cooldownMinutes',
    label: string,
    min: number,
    max: number,
  ) => (
    <>
      <label>
        {label}
        <input
          id={`${id}-${key}`}
          type="number"
          inputMode="numeric"
          step={1}
          min={min}
          max={max}
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
              <option key={m.id} value={m.id} translate={isMetricName(m.id) ? undefined : false}>
                {metricName(m.id, lang)}
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
        {intField('maxRunsPerDay', t('maxRunsPerDay'), 1, 96)}
        {intField('maxOpenMinutes', t('maxOpenMinutesLabel'), 1, MAX_OPEN_MINUTES)}
        {intField('cooldownMinutes', t('cooldownMinutes'), 0, 1440)}
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
function CommandsText({ a, devices }: { a: AutomationView; devices: DeviceView[] }) {
  const { t } = useI18n();
  const one = (c: ActuatorCommand) => (
    <>
      <span translate={false}>{devices.find((d) => d.id === c.device)?.name ?? c.device}</span>{' '}
      {knownCommand(c.command) ? commandName(c.command, t) : <span translate={false}>{c.command}</span>}
      {c.params?.minutes !== undefined ? ` (${c.params.minutes} ${t('minutes')})` : ''}
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

export function FarmerAutomations({ farm }: { farm: string }) {
  const { t, lang } = useI18n();
  const list = useLoad(() => reviewApi.automations(farm), farm);
  const overrides = useLoad(() => reviewApi.overrides(farm).catch(() => []), `${farm}/o`);
  const devices = useLoad(() => api<DeviceView[]>('/api/v1/devices'), farm);
  const kits = useLoad(() => api<KitSummary[]>('/api/v1/kits'), 'kits');
  const choices = useMemo(
    () =>
      farmChoices(
        (devices.data ?? []).filter((d) => d.farm === farm),
        kits.data ?? [],
      ),
    [devices.data, kits.data, farm],
  );
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState('');
  /** '' (no form), 'new', or the id of the automation being edited. */
  const [editing, setEditing] = useState('');
  const [saved, setSaved] = useState('');
  const logs = useLoad(() => (open ? reviewApi.automationLogs(open) : Promise.resolve([])), open);
  const formReady = !devices.loading && !kits.loading;
  const edit = (what: string) => {
    setSaved('');
    setEditing(editing === what ? '' : what);
  };
  const onSaved = () => {
    setEditing('');
    setSaved(t('automationSaved'));
    list.reload();
  };
  const toggle = async (a: AutomationView) => {
    setError(null);
    try {
      await reviewApi.automationUpdate(a.id, {
        ...(a.field ? { field: a.field } : {}),
        name: a.name,
        enabled: !a.enabled,
        trigger: a.trigger,
        ...(a.action ? { action: a.action } : {}),
        ...(a.below ? { below: a.below } : {}),
        ...(a.above ? { above: a.above } : {}),
        limits: a.limits,
        version: a.version,
      });
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  const actuators = new Set(
    (list.data ?? [])
      .flatMap((a) => [a.action?.device, a.below?.device, a.above?.device])
      .filter((d): d is string => !!d),
  );
  const override = async (
    device: string,
    mode: 'hold_closed' | 'hold_open' | 'pause' | 'clear',
    minutes: number,
  ) => {
    setError(null);
    try {
      if (mode === 'clear') await reviewApi.clearOverride(farm, device);
      else await reviewApi.setOverride(farm, device, { mode, minutes });
      overrides.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('automations')}</h1>
      <p role="status" class="ok">
        {saved}
      </p>
      <div class="actions">
        <button
          type="button"
          class="primary"
          aria-expanded={editing === 'new'}
          disabled={!formReady}
          onClick={() => edit('new')}
        >
          {t('newAutomation')}
        </button>
      </div>
      <ErrorBox error={kits.error ?? devices.error} />
      {editing === 'new' && formReady ? (
        <div class="card">
          <AutomationForm farm={farm} choices={choices} onSaved={onSaved} onCancel={() => setEditing('')} />
        </div>
      ) : null}
      <ErrorBox error={error ?? list.error} />
      {list.loading ? <Loading /> : null}
      {list.data?.length === 0 ? <p class="muted">{t('noAutomations')}</p> : null}
      <ul class="cards">
        {(list.data ?? []).map((a) => (
          <li key={a.id} class="card" data-testid={`automation-${a.id}`}>
            <h2>{a.name[lang]}</h2>
            <p data-testid="trigger">
              {a.enabled ? t('enabled') : t('disabled')} ·{' '}
              <TriggerText trigger={a.trigger} devices={devices.data ?? []} />
            </p>
            <p data-testid="commands">
              <CommandsText a={a} devices={devices.data ?? []} />
            </p>
            <p class="muted">
              {t('maxRunsPerDay')} {a.limits.maxRunsPerDay} · {t('maxOpen')} {a.limits.maxOpenMinutes}{' '}
              {t('minutes')}
              {a.limits.quietHours
                ? ` · ${t('quietHours')} ${a.limits.quietHours.from}–${a.limits.quietHours.to}`
                : ''}
            </p>
            <div class="actions">
              <button type="button" onClick={() => void toggle(a)}>
                {a.enabled ? t('disable') : t('enable')}
              </button>
              <button
                type="button"
                aria-expanded={open === a.id}
                onClick={() => setOpen(open === a.id ? '' : a.id)}
              >
                {t('showLog')}
              </button>
              <button
                type="button"
                aria-expanded={editing === a.id}
                disabled={!formReady}
                onClick={() => edit(a.id)}
              >
                {t('edit')}
              </button>
            </div>
            {editing === a.id && formReady ? (
              <AutomationForm
                key={a.id}
                farm={farm}
                choices={choices}
                initial={a}
                onSaved={onSaved}
                onCancel={() => setEditing('')}
              />
            ) : null}
            {open === a.id ? (
              <ol class="log">
                {(logs.data ?? []).map((l) => (
                  <li key={l.id}>
                    <time dateTime={l.at}>{fmtTime(l.at, lang)}</time> {t(`event_${l.event}`)}{' '}
                    {/* Logs of older gateways have only the one "ja / en" line. */}
                    <span class="muted" data-testid="log-text">
                      {l.text?.[lang] ?? l.message}
                    </span>
                  </li>
                ))}
                {logs.data?.length === 0 ? <li class="muted">{t('noLog')}</li> : null}
              </ol>
            ) : null}
          </li>
        ))}
      </ul>
      <Section title={t('manualOverride')} id="override-h">
        {[...actuators].map((device) => {
          const o = overrides.data?.find((x) => x.device === device && x.active);
          const name = devices.data?.find((d) => d.id === device)?.name ?? device;
          return (
            <form
              key={device}
              class="override"
              onSubmit={(e) => {
                e.preventDefault();
                const fd = new FormData(e.currentTarget as HTMLFormElement);
                void override(device, fd.get('mode') as 'hold_closed', Number(fd.get('minutes')));
              }}
            >
              <h3>{name}</h3>
              <p class="muted">
                {o ? `${t(`override_${o.mode}`)} · ${t('until')} ${fmtTime(o.until, lang)}` : t('noOverride')}
              </p>
              <label>
                {t('overrideMode')}
                <select name="mode">
                  <option value="hold_closed">{t('override_hold_closed')}</option>
                  <option value="hold_open">{t('override_hold_open')}</option>
                  <option value="pause">{t('override_pause')}</option>
                </select>
              </label>
              <label>
                {t('durationMinutes')}
                <input name="minutes" type="number" min={1} max={10080} value={60} required />
              </label>
              <div class="actions">
                <button type="submit" class="primary">
                  {t('setOverride')}
                </button>
                {o ? (
                  <button type="button" onClick={() => void override(device, 'clear', 0)}>
                    {t('clearOverride')}
                  </button>
                ) : null}
              </div>
            </form>
          );
        })}
        {actuators.size === 0 ? <p class="muted">{t('noActuators')}</p> : null}
      </Section>
    </main>
  );
}
