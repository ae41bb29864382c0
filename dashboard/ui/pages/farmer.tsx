// The farmer's pages, phone first: the farm with live sensor tiles and its fields on a map; a
// field with its heatmap, zones and charts; tips to act on, dismiss or automate; approved
// recommendations with their map and prescription downloads; automations — written and edited in
// a form, with logs and a manual override.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useId, useMemo, useRef, useState } from 'preact/hooks';
import type { DeviceView, LiveReadingEvent } from '../../../protocol/api.ts';
import type { FarmFields, FieldDetail, KitSummary, Series, SeriesRange } from '../../../protocol/views.ts';
import type { TipView, AutomationView, AutomationLogView, OverrideView } from '../../../protocol/review.ts';
import { spreadTotals } from '../../../protocol/recommendation.ts';
import { METRICS, isMetricName } from '../../../protocol/metrics.ts';
import type { EvidenceQuantity, EvidenceThreshold } from '../../../protocol/tip.ts';
import { ruleLabel, termLabel, valueLabel, type EvidenceLabel } from '../../../edge/rules/evidence-labels.ts';
import { ApiError, api, qs } from '../api.ts';
import { cropName, useI18n, type Lang } from '../i18n.ts';
import { href } from '../route.ts';
import { useLive, useLiveChanges, type LiveState } from '../live.ts';
import {
  chartDefault,
  chartMetric,
  comparisonSign,
  displayUnit,
  fmtDate,
  fmtNumber,
  zoneRateLabel,
  fmtTime,
  fmtValue,
  metricName,
  kitMetricNames,
  type KitMetricNames,
} from '../format.ts';
import { compares } from '../../../protocol/comparison.ts';
import { reviewApi } from '../review-api.ts';
import {
  ErrorBox,
  FieldError,
  Freshness,
  Loading,
  Rate,
  Section,
  fill,
  useLoad,
} from '../components/common.tsx';
import {
  BASE_LAYER_ATTRIBUTION_KEY,
  BASE_LAYER_KEY,
  baseLayerProblem,
  effectiveBaseLayer,
  FieldMap,
  useSharedBaseLayer,
  type MapPolygon,
} from '../components/FieldMap.tsx';
import { HeatmapLegend, sceneLayer, useHeatmapOverlay } from '../components/Heatmap.tsx';
import { Chart, totalPer } from '../components/Chart.tsx';
import { AutoApproval } from '../components/AutoApproval.tsx';
import { FieldStage, STAGE_RECORDERS } from '../components/FieldStage.tsx';
import { farmChoices } from '../automation-draft.ts';
import { AutomationForm, CommandsText, TriggerText } from './automation-form.tsx';

const enc = encodeURIComponent;
type Translate = (key: string) => string;
/**
 * A message kept until the page is next read: it words itself in the language the page is read in
 * then, so switching the language after an action re-words what the page said about it.
 */
type Say = (t: Translate, lang: Lang) => string;
const HIDDEN_TILE_METRICS = new Set(['rssi', 'snr']);
/** File format names are names, the same in every language. */
const FORMAT_NAMES = { isoxml: 'ISOXML', shp: 'Shapefile', geojson: 'GeoJSON', csv: 'CSV' } as const;

/**
 * A device with its kit's reporting interval (seconds; null when its kit is not known), and until
 * when a manual override holds it open (epoch ms; null when none does).
 */
type LiveDevice = DeviceView & {
  intervalS: number | null;
  metricNames: KitMetricNames;
  heldOpenUntil: number | null;
};

/**
 * Devices of a farm with their latest values, kept current by the live stream, and each with its
 * kit's reporting interval (its data reads as old after 3 of them, as the server's silent rule)
 * and the manual hold_open override in force on it, if any (a gate held open by hand reports no
 * timer: its tile says until when it is held).
 */
function useLiveDevices(farm: string) {
  const devices = useLoad(() => api<DeviceView[]>('/api/v1/devices'), farm);
  // Without the catalogue the tiles still show, their data old after the fixed 15 minutes.
  const kits = useLoad(() => api<KitSummary[]>('/api/v1/kits').catch(() => [] as KitSummary[]), 'kits');
  // Without the overrides a gate held open says only that it has no timer.
  const overrides = useLoad(
    () => reviewApi.overrides(farm).catch(() => [] as OverrideView[]),
    `${farm}/overrides`,
  );
  useLiveChanges(farm, ['override'], overrides.reload);
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
  const merged = useMemo((): LiveDevice[] => {
    const list = (devices.data ?? []).filter((d) => d.farm === farm);
    const catalogue = kits.data ?? [];
    const interval = new Map(catalogue.map((k) => [k.id, k.interval]));
    const heldOpen = new Map(
      (overrides.data ?? [])
        .filter((o) => o.active && o.mode === 'hold_open')
        .map((o) => [o.device, o.until]),
    );
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
      return {
        ...d,
        latest,
        lastSeen,
        intervalS: (d.kit ? interval.get(d.kit) : undefined) ?? null,
        metricNames: kitMetricNames(catalogue, d.kit),
        heldOpenUntil: heldOpen.get(d.id) ?? null,
      };
    });
  }, [devices.data, kits.data, overrides.data, patch, farm]);
  return { devices: merged, loading: devices.loading, error: devices.error, status };
}

/**
 * A gate opened with a plain `open` — held open by a manual override (hold_open), or by an
 * automation's band — has no timer, and reports open_minutes_left 0 while it is open (sim/valve.ts,
 * the engine's enforce()). Its tile must not read "0 分 left" then: this says it is open with no
 * timer, and until when a manual hold_open keeps it so (`until`, else null). Only while the gate's
 * own state, reported with this reading or after it, is open (1): a gate that never reports its
 * closing is not called open by a stale state.
 */
function untimedOpening(
  device: LiveDevice,
  metric: string,
  value: number,
  time: string,
  now: number,
): { until: number | null } | null {
  if (metric !== 'open_minutes_left' || value !== 0) return null;
  const state = device.latest.find((l) => l.metric === 'valve_state');
  if (state?.value !== 1 || Date.parse(state.time) < Date.parse(time)) return null;
  const until = device.heldOpenUntil;
  return { until: until !== null && until > now ? until : null };
}

function Tile({
  device,
  metric,
  value,
  unit,
  time,
  flags,
}: {
  device: LiveDevice;
  metric: string;
  value: number;
  unit: string;
  time: string;
  flags: string[];
}) {
  const { lang, t } = useI18n();
  const v = fmtValue(metric, value, unit, lang);
  const untimed = untimedOpening(device, metric, value, time, Date.now());
  return (
    <li class="tile" data-testid={`tile-${device.id}-${metric}`}>
      <span class="tile-metric">{metricName(metric, lang, device.metricNames)}</span>
      <span class="tile-value">
        {untimed ? (
          <span class="unit" data-testid="value">
            {untimed.until !== null
              ? fill(t('gateHeldOpenUntil'), {
                  time: (
                    <time dateTime={new Date(untimed.until).toISOString()}>
                      {fmtTime(untimed.until, lang)}
                    </time>
                  ),
                })
              : t('gateNoTimer')}
          </span>
        ) : (
          <>
            <span class="num" data-testid="value">
              {v.value}
            </span>{' '}
            <span translate={false} class="unit">
              {v.unit}
            </span>
          </>
        )}
      </span>
      <Freshness time={time} intervalS={device.intervalS} />
      {flags.length ? (
        <span class="flag" title={flags.join(', ')}>
          {t('flagged')}
        </span>
      ) : null}
    </li>
  );
}

/** What the live stream's state reads as: live, connecting, or lost and reconnecting (live.ts's watchdog). */
function liveStateText(status: LiveState, t: (k: string) => string): string {
  if (status === 'open') return t('liveOn');
  if (status === 'reconnecting') return t('liveReconnecting');
  return t('liveConnecting');
}

export function LiveTiles({ devices, status }: { devices: LiveDevice[]; status: LiveState }) {
  const { t } = useI18n();
  return (
    <div>
      <p
        class={`live-state ${status === 'reconnecting' ? 'warn' : 'muted'}`}
        aria-live="polite"
        data-state={status}
      >
        {liveStateText(status, t)}
      </p>
      {devices.map((d) => (
        <div key={d.id} class="device-tiles">
          <h3>
            {d.name ?? d.id} <Freshness time={d.lastSeen} intervalS={d.intervalS} />
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
  useLiveChanges(farm, ['tip'], tips.reload);
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
                  {f.crop ? cropName(f.crop, lang) : ''}
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

const RANGES: SeriesRange[] = ['24h', '7d', 'season'];

/** Where a field's last chart choice (device and metric) is kept in this browser. */
const chartKey = (farm: string, field: string) => `hatake.chart.${farm}.${field}`;

interface ChartChoice {
  device: string;
  metric: string;
}

function savedChart(key: string): ChartChoice {
  try {
    const v = JSON.parse(localStorage.getItem(key) ?? '{}') as Partial<ChartChoice>;
    return {
      device: typeof v.device === 'string' ? v.device : '',
      metric: typeof v.metric === 'string' ? v.metric : '',
    };
  } catch {
    return { device: '', metric: '' };
  }
}

function saveChart(key: string, c: ChartChoice): void {
  try {
    localStorage.setItem(key, JSON.stringify(c));
  } catch {
    // Private mode: the choice lasts for this page only.
  }
}

/**
 * A field's charts: they open on the farmer's last choice for the field (kept in this browser),
 * else on the most telling metric of the field's devices (chartDefault: a paddy's water level, a
 * soil probe's moisture, a station's air temperature), not on whatever a kit lists first.
 */
function Charts({
  farm,
  field,
  devices,
  timeZone,
}: {
  farm: string;
  field: string;
  devices: LiveDevice[];
  timeZone: string;
}) {
  const { t, lang } = useI18n();
  const key = chartKey(farm, field);
  const [choice, setChoice] = useState<ChartChoice>(() => savedChart(key));
  const metricsOf = (d: DeviceView | undefined) =>
    (d?.latest ?? []).map((l) => l.metric).filter((m) => !HIDDEN_TILE_METRICS.has(m));
  const best = chartDefault(devices.map((d) => ({ id: d.id, metrics: metricsOf(d) })));
  const dev =
    devices.find((d) => d.id === choice.device) ?? devices.find((d) => d.id === best.device) ?? devices[0];
  const metrics = metricsOf(dev);
  const m = metrics.includes(choice.metric) ? choice.metric : chartMetric(metrics);
  const choose = (c: ChartChoice) => {
    setChoice(c);
    saveChart(key, c);
  };
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
          <select
            value={dev.id}
            onChange={(e) => choose({ device: (e.target as HTMLSelectElement).value, metric: '' })}
          >
            {devices.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name ?? d.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('metric')}
          <select
            value={m}
            onChange={(e) => choose({ device: dev.id, metric: (e.target as HTMLSelectElement).value })}
          >
            {metrics.map((x) => (
              <option key={x} value={x}>
                {metricName(x, lang, dev.metricNames)}
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
          label={`${metricName(m, lang, dev.metricNames)} (${dev.name ?? dev.id})`}
          from={series.data.from}
          to={series.data.to}
          timeLabel={t('time')}
          bandLabels={[t('minimum'), t('maximum')]}
          unit={unit}
          totalPer={totalPer(m, series.data.resolution)}
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

/** `role`: the signed-in user's, for what they may do here (record the growth stage). */
export function FieldPage({ farm, field, role }: { farm: string; field: string; role: string }) {
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
  const layer = sceneLayer(scene, index);
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
  const overlay = useHeatmapOverlay(layer);
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
          {f.crop ? cropName(f.crop, lang) : ''}
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
            {layer ? <HeatmapLegend scene={scene} layer={layer} /> : null}
          </div>
        ) : detail.data ? (
          <p class="muted">{t('noImagery')}</p>
        ) : null}
        <BaseLayerSetting />
      </Section>
      <Section title={t('sensors')} id="sensors-h">
        <LiveTiles devices={fieldDevices} status={live.status} />
      </Section>
      <FieldStage
        key={`${farm}/${field}`}
        farm={farm}
        field={field}
        canRecord={STAGE_RECORDERS.includes(role)}
      />
      <Section title={t('charts')} id="charts-h">
        {live.loading ? (
          <Loading />
        ) : (
          <Charts key={field} farm={farm} field={field} devices={fieldDevices} timeZone={tz} />
        )}
      </Section>
    </main>
  );
}

/**
 * The field map's base layer for this browser: a tile template of the farmer's own (kept in this
 * browser only) or, left empty, the shared one the server's administrator set in server.yaml (none
 * when there is none). With a shared layer, the setting says which one the map shows and offers
 * to go back to the shared one.
 */
function BaseLayerSetting() {
  const { t } = useI18n();
  const shared = useSharedBaseLayer();
  const hasShared = !!shared && baseLayerProblem(shared.url) === undefined;
  const own = localStorage.getItem(BASE_LAYER_KEY);
  const ownInUse = effectiveBaseLayer(shared)?.source === 'browser';
  const [url, setUrl] = useState(own ?? '');
  const [attribution, setAttribution] = useState(localStorage.getItem(BASE_LAYER_ATTRIBUTION_KEY) ?? '');
  const [problem, setProblem] = useState<'scheme' | 'template' | undefined>();
  const id = useId();
  const message = problem && t(problem === 'scheme' ? 'baseLayerBadScheme' : 'baseLayerNoTemplate');
  return (
    <details class="settings">
      <summary>{t('baseLayer')}</summary>
      {hasShared ? (
        <p class="muted" data-testid="base-layer-in-use">
          {t(ownInUse ? 'baseLayerOwnInUse' : 'baseLayerSharedInUse')}
        </p>
      ) : null}
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          const value = url.trim();
          const why = value ? baseLayerProblem(value) : undefined;
          setProblem(why);
          if (why) {
            (e.currentTarget as HTMLFormElement).querySelector<HTMLInputElement>('input[type=url]')?.focus();
            return;
          }
          if (value) localStorage.setItem(BASE_LAYER_KEY, value);
          else localStorage.removeItem(BASE_LAYER_KEY);
          if (value && attribution.trim())
            localStorage.setItem(BASE_LAYER_ATTRIBUTION_KEY, attribution.trim());
          else localStorage.removeItem(BASE_LAYER_ATTRIBUTION_KEY);
          location.reload();
        }}
      >
        <label>
          {t(hasShared ? 'baseLayerUrlShared' : 'baseLayerUrl')}
          <input
            type="url"
            value={url}
            placeholder="https://…/{z}/{x}/{y}.png"
            onInput={(e) => {
              setUrl((e.target as HTMLInputElement).value);
              setProblem(undefined);
            }}
            {...(message ? { 'aria-invalid': true, 'aria-describedby': `${id}-err` } : {})}
          />
        </label>
        <FieldError id={`${id}-err`} message={message} />
        <label>
          {t('baseLayerAttribution')}
          <input
            type="text"
            value={attribution}
            maxLength={200}
            onInput={(e) => setAttribution((e.target as HTMLInputElement).value)}
          />
        </label>
        <div class="actions">
          <button type="submit">{t('save')}</button>
          {hasShared && own ? (
            <button
              type="button"
              onClick={() => {
                localStorage.removeItem(BASE_LAYER_KEY);
                localStorage.removeItem(BASE_LAYER_ATTRIBUTION_KEY);
                location.reload();
              }}
            >
              {t('baseLayerBackToShared')}
            </button>
          ) : null}
        </div>
      </form>
    </details>
  );
}

/** A unit of a tip's evidence as shown: the tiles' units, GDD in °C·d, N rates in kg/10a in Japanese. */
function evidenceUnit(unit: string, lang: Lang): { unit: string; factor: number } {
  if (unit === 'degC.d') return { unit: lang === 'ja' ? '°C・日' : '°C·d', factor: 1 };
  if (unit === 'degC/h') return { unit: '°C/h', factor: 1 };
  if (unit === 'kg N/ha' && lang === 'ja') return { unit: 'kg N/10a', factor: 0.1 };
  return displayUnit('', unit);
}

/** Words of an evidence label, the symbol after them in parentheses and never translated. */
function LabelWords({ label, lang }: { label: EvidenceLabel; lang: Lang }) {
  if (label.symbol === undefined) return <>{label[lang]}</>;
  const [open, close] = lang === 'ja' ? ['（', '）'] : [' (', ')'];
  return (
    <>
      {label[lang]}
      {open}
      <span translate={false}>{label.symbol}</span>
      {close}
    </>
  );
}

/**
 * A rule's threshold or quantity: its label (edge/rules/evidence-labels.ts) and its numbers, with
 * the identifier the rule wrote small beside them for an officer (and as the tooltip). A term
 * without a label (a newer rule's, a co-op's own) reads as the metric it is named after when the
 * protocol knows one (soil_vwc → 土壌水分), else as the rule's own term: words in the reader's
 * language either way, the identifier small beside them. `raw`: the stored numbers, where `shown`
 * reads as words or a time.
 */
function EvidenceTerm(props: {
  rule: string;
  name: string;
  lang: Lang;
  shown: ComponentChildren;
  raw?: string;
  threshold?: boolean;
}) {
  const { rule, name, lang, shown, raw, threshold } = props;
  const { t } = useI18n();
  const term = termLabel(rule, name);
  const label = threshold ? (term?.asThreshold ?? term) : term;
  const colon = lang === 'ja' ? '：' : ': ';
  return (
    <li title={name}>
      {label ? (
        <LabelWords label={label} lang={lang} />
      ) : isMetricName(name) ? (
        metricName(name, lang)
      ) : (
        t('evidenceUnknownTerm')
      )}
      {colon}
      {shown}{' '}
      <small class="muted" translate={false} lang="en">
        ({raw === undefined ? name : `${name}: ${raw}`})
      </small>
    </li>
  );
}

function EvidenceThresholdItem({ rule, th, lang }: { rule: string; th: EvidenceThreshold; lang: Lang }) {
  const { t } = useI18n();
  const u = evidenceUnit(th.unit, lang);
  const n = (x: number) => fmtNumber(x * u.factor, lang, 2);
  const value = `${n(th.value)} ${u.unit}`.trim();
  const guide = `${comparisonSign(th.comparison, lang)} ${n(th.threshold)} ${u.unit}`.trim();
  const met = compares(th.value, th.comparison, th.threshold);
  const label = termLabel(rule, th.name);
  const word = label && valueLabel(label, th.value);
  // The measured value, then the threshold it is tested against and whether it holds, so
  // "10,000 h" beside "≦ 48 h" reads as not met rather than as a claim.
  const shown = (
    <>
      {word ? <b>{word[lang]}</b> : <b translate={false}>{value}</b>}{' '}
      <span class="muted" data-met={met ? 'yes' : 'no'}>
        {lang === 'ja' ? '（' : '('}
        {t('evidenceGuide')} <span translate={false}>{guide}</span>
        {lang === 'ja' ? '・' : ', '}
        {t(met ? 'evidenceMet' : 'evidenceNotMet')}
        {lang === 'ja' ? '）' : ')'}
      </span>
    </>
  );
  return (
    <EvidenceTerm
      rule={rule}
      name={th.name}
      lang={lang}
      threshold
      shown={shown}
      {...(word ? { raw: `${n(th.value)} ${th.comparison} ${n(th.threshold)}` } : {})}
    />
  );
}

function EvidenceQuantityItem({ rule, q, lang }: { rule: string; q: EvidenceQuantity; lang: Lang }) {
  const u = evidenceUnit(q.unit, lang);
  const numbers = `${fmtNumber(q.value * u.factor, lang, 2)} ${u.unit}`.trim();
  const label = termLabel(rule, q.name);
  const word = label && valueLabel(label, q.value);
  if (word)
    return <EvidenceTerm rule={rule} name={q.name} lang={lang} shown={<b>{word[lang]}</b>} raw={numbers} />;
  if (label?.reads === 'time')
    return (
      <EvidenceTerm
        rule={rule}
        name={q.name}
        lang={lang}
        shown={<b translate={false}>{fmtTime(q.value, lang)}</b>}
        raw={String(q.value)}
      />
    );
  return <EvidenceTerm rule={rule} name={q.name} lang={lang} shown={<b translate={false}>{numbers}</b>} />;
}

/** The rule that raised a tip: its name, with its id and version beside it in small text. */
function EvidenceRule({ rule, lang }: { rule: { id: string; version: string }; lang: Lang }) {
  const label = ruleLabel(rule.id);
  const id = `${rule.id}@${rule.version}`;
  if (!label) return <span translate={false}>{id}</span>;
  return (
    <>
      <LabelWords label={label} lang={lang} />{' '}
      <small translate={false} lang="en">
        {id}
      </small>
    </>
  );
}

export function FarmerTips({ farm }: { farm: string }) {
  const { t, lang } = useI18n();
  const [view, setView] = useState<'active' | 'history'>('active');
  const tips = useLoad(() => reviewApi.tips(farm, view), `${farm}/${view}`);
  // Which valve or gate a tip's automation steers, where its field has several (tip id → device).
  const [chosen, setChosen] = useState<Record<string, string>>({});
  const devices = useLoad(() => api<DeviceView[]>('/api/v1/devices'), farm);
  // A tip raised, cleared or acted on elsewhere (the gateway, another phone) shows at once, with
  // the names of devices that came with it.
  useLiveChanges(farm, ['tip'], () => {
    tips.reload();
    devices.reload();
  });
  const [busy, setBusy] = useState('');
  const [error, setError] = useState<unknown>(null);
  // What was done, in words of the language the page is read in now (a switch after it re-words it).
  const [done, setDone] = useState<Say | null>(null);
  const deviceName = (id: string) => devices.data?.find((d) => d.id === id && d.farm === farm)?.name;
  const act = async (v: TipView, what: 'act' | 'dismiss' | 'automate') => {
    setBusy(v.tip.id);
    setError(null);
    try {
      if (what === 'act') await reviewApi.tipAct(v.tip.id);
      else if (what === 'dismiss') await reviewApi.tipDismiss(v.tip.id);
      else {
        const actuator = v.actuators.length > 1 ? (chosen[v.tip.id] ?? v.actuators[0]) : undefined;
        await reviewApi.tipAutomate(v.tip.id, { enabled: false, ...(actuator ? { actuator } : {}) });
      }
      setDone(
        () => (t: Translate) =>
          what === 'act'
            ? t('tipActedDone')
            : what === 'dismiss'
              ? t('tipDismissedDone')
              : t('tipAutomatedDone'),
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
      <p class="muted hint" data-testid="tips-view-hint">
        {view === 'active' ? t('tipsActiveHint') : t('tipsHistoryHint')}
      </p>
      <p role="status" class="ok">
        {done?.(t, lang)}
      </p>
      <ErrorBox error={error ?? tips.error} />
      {tips.firstLoading || devices.firstLoading ? <Loading /> : null}
      {tips.data?.length === 0 ? <p class="muted">{t('noTips')}</p> : null}
      <ul class="cards">
        {/* The cards wait for the devices on the first load: a gate's picker is worded with their names. */}
        {(devices.firstLoading ? [] : (tips.data ?? [])).map((v) => {
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
                {v.cleared ? ` · ${t('tipCleared')} ${fmtTime(v.cleared, lang)}` : ''}
              </p>
              <details>
                <summary>{t('evidence')}</summary>
                <ul class="evidence">
                  {/* The readings the rule judged, as the tiles show them, in the farm's zone. */}
                  {v.tip.evidence.points.slice(0, 12).map((p, i) => {
                    const shown = fmtValue(p.metric, p.value, p.unit, lang);
                    return (
                      <li key={`p${i}`}>
                        {metricName(p.metric, lang)}{' '}
                        <b translate={false}>
                          {shown.value} {shown.unit}
                        </b>{' '}
                        <span class="muted">
                          {fmtTime(p.time, lang)}
                          {p.device ? <span translate={false}> · {p.device}</span> : null}
                        </span>
                      </li>
                    );
                  })}
                  {/* The rule's own terms, in words where the rule is known; the identifier stays, small. */}
                  {v.tip.evidence.thresholds.map((th) => (
                    <EvidenceThresholdItem key={th.name} rule={v.tip.evidence.rule.id} th={th} lang={lang} />
                  ))}
                  {v.tip.evidence.quantities.map((q) => (
                    <EvidenceQuantityItem key={q.name} rule={v.tip.evidence.rule.id} q={q} lang={lang} />
                  ))}
                  {v.tip.evidence.sources.map((s, i) => (
                    <li key={`s${i}`} class="muted">
                      {t('evidenceSource')}{' '}
                      <span translate={false} lang="en">
                        {s.citation}
                      </span>
                    </li>
                  ))}
                  <li class="muted">
                    {t('rule')} <EvidenceRule rule={v.tip.evidence.rule} lang={lang} />
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
                  {v.automatable && v.actuators.length > 1 ? (
                    <label class="inline">
                      {t('tipAutomateWith')}{' '}
                      <select
                        value={chosen[v.tip.id] ?? v.actuators[0]}
                        onChange={(e) =>
                          setChosen((c) => ({ ...c, [v.tip.id]: (e.target as HTMLSelectElement).value }))
                        }
                      >
                        {v.actuators.map((id) => (
                          <option key={id} value={id} translate={false}>
                            {deviceName(id) ? `${deviceName(id)} (${id})` : id}
                          </option>
                        ))}
                      </select>
                    </label>
                  ) : null}
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

/**
 * A product total to 0.1 kg, as the prescription tip writes it (dashboard/review/prescription-tip.ts
 * productTotalText): the page and the tip say the same amount ("42.7 kg", not 43 beside 42.7).
 */
function productTotal(kg: number, lang: Lang): string {
  return new Intl.NumberFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  }).format(kg);
}

/** Whether a prescription spreads nothing: every zone at 0 kg N/ha (the officer's edits included). */
const spreadsNothing = (zones: readonly { rate: { kgNHa: number } }[]) =>
  zones.every((z) => z.rate.kgNHa <= 0);

/** What the prescription files spread: the zones, and the part of the field outside them at their mean. */
function SpreadTotals({ rec }: { rec: Parameters<typeof spreadTotals>[0] }) {
  const { t, lang } = useI18n();
  const spread = spreadTotals(rec);
  return (
    <p data-testid="rx-totals">
      {t('totalProduct')} {productTotal(spread.productKg, lang)} <span translate={false}>kg</span> ·{' '}
      {t('totalN')} {fmtNumber(spread.nKg, lang, 1)} <span translate={false}>kg</span>
      {spread.restHa > 0 ? (
        <>
          {' '}
          {fill(t('totalsWholeField'), {
            area: <span translate={false}>{`${fmtNumber(spread.areaHa, lang, 2)} ha`}</span>,
            rest: <span translate={false}>{`${fmtNumber(spread.restHa, lang, 2)} ha`}</span>,
          })}
        </>
      ) : null}
    </p>
  );
}

/** The prescription's files, each a button-sized link (a phone's thumb, no two on top of each other). */
function Downloads({ links }: { links: Record<keyof typeof FORMAT_NAMES, string> }) {
  const { t } = useI18n();
  return (
    <ul class="downloads">
      {(['isoxml', 'shp', 'geojson', 'csv'] as const).map((fmt) => (
        <li key={fmt}>
          <a href={links[fmt]} download data-testid={`download-${fmt}`}>
            {/* One box for the words, so they wrap inside the link (not one flex item each). */}
            <span>
              <span translate={false}>{FORMAT_NAMES[fmt]}</span> ({t(`format_${fmt}`)})
            </span>
          </a>
        </li>
      ))}
    </ul>
  );
}

/**
 * When the satellite image a recommendation's rates come from was taken (a day in the farm's
 * zone), or that it was made without one — in the list as on the card.
 */
function ImageDate({ acquired, tz }: { acquired: string | number | null; tz: string }) {
  const { t, lang } = useI18n();
  if (acquired === null) return <>{t('rxNoImage')}</>;
  return (
    <>
      {t('rxImageDate')}{' '}
      <time dateTime={new Date(acquired).toISOString()}>{fmtDate(acquired, lang, tz)}</time>
    </>
  );
}

export function FarmerRecommendations({ farm, id }: { farm: string; id?: string }) {
  const { t, lang } = useI18n();
  const list = useLoad(() => reviewApi.approved(farm), farm);
  useLiveChanges(farm, ['recommendation'], list.reload);
  // The field's current prescription first, not one a newer approval replaced.
  const chosen = id ?? (list.data?.find((x) => !x.replacedBy) ?? list.data?.[0])?.id;
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
        label: zoneRateLabel(t('zoneN').replace('{n}', String(z.zone)), kg, lang),
      };
    });
  }, [r, lang, t]);
  const field = fields.data?.fields.find((f) => f.id === r?.field);
  const tz = fields.data?.timezone ?? 'Asia/Tokyo';
  const nothing = r ? spreadsNothing(r.zones) : false;
  const acquired = r?.recommendation.imagery.acquired ?? null;
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
      {list.firstLoading ? <Loading /> : null}
      {/* The farmer's API does not say how many wait for the officer's review: say what comes next. */}
      {list.data?.length === 0 ? (
        <div class="muted" data-testid="no-recommendations">
          <p>{t('noRecommendations')}</p>
          <p>{t('noRecommendationsHint')}</p>
        </div>
      ) : null}
      {list.data && list.data.length > 1 ? (
        <ul class="list">
          {list.data.map((x) => (
            <li key={x.id}>
              <a
                href={href('farm', farm, 'recommendations', x.id)}
                aria-current={x.id === chosen ? 'page' : undefined}
              >
                {fields.data?.fields.find((f) => f.id === x.field)?.name ?? x.field} ·{' '}
                <ImageDate acquired={x.imageAcquired} tz={tz} /> · {t('rxComputedAt')}{' '}
                <time dateTime={x.createdAt}>{fmtTime(x.createdAt, lang, tz)}</time>
              </a>{' '}
              {x.replacedBy ? (
                <span class="badge muted">{t('rxReplaced')}</span>
              ) : (
                <span class="badge state-ok">{t('rxCurrent')}</span>
              )}
              {spreadsNothing(x.zones) ? (
                <>
                  {' '}
                  <span class="badge" data-testid="rx-none-badge">
                    {t('rxNoTopDressing')}
                  </span>
                </>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {r ? (
        <article class="card" data-testid={`recommendation-${r.id}`}>
          <h2>
            {field?.name ?? r.field} · {r.product.name[lang]}
          </h2>
          {/* What the rates are based on: the satellite image's date, beside when they were computed. */}
          <p class="muted" data-testid="rx-dates">
            <ImageDate acquired={acquired} tz={tz} /> · {t('rxComputedAt')}{' '}
            <time dateTime={r.createdAt}>{fmtTime(r.createdAt, lang, tz)}</time>
          </p>
          <p class="muted">
            {t('approvedBy')} <span translate={false}>{r.approvedBy}</span> ·{' '}
            {fmtTime(r.approvedAt, lang, tz)}
            {r.autoApproved ? ` · ${t('autoApproved')}` : ''}
          </p>
          {nothing ? (
            <p class="notice ok-notice" role="note" data-testid="rx-none">
              <strong>{t('rxNoTopDressing')}</strong> {t('rxNoTopDressingNote')}
            </p>
          ) : null}
          {r.replacedBy ? (
            <p class="notice" role="note" data-testid="rx-replaced">
              {t('rxReplacedNote')}{' '}
              <a href={href('farm', farm, 'recommendations', r.replacedBy)}>{t('rxOpenCurrent')}</a>
            </p>
          ) : null}
          <FieldMap fields={fieldPolys} zones={zones} label={t('prescriptionMap')} />
          {/* On a phone each rate's other unit goes under it, so the four columns fit (the product's
              rate in sight); with larger text the table scrolls inside its card. No heading or
              number is broken mid-word. */}
          <div class="scroll" tabIndex={0} role="region" aria-label={t('zoneRates')}>
            <table class="table unbroken zone-rates">
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
                    {/* A zone's number is short: not the width .unbroken gives a row's name. */}
                    <th scope="row" style={{ minWidth: 0 }}>
                      {z.zone}
                    </th>
                    <td data-testid="zone-area">
                      {fmtNumber(z.areaHa * 100, lang, 1)} <span translate={false}>a</span>
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
          <SpreadTotals rec={r.recommendation} />
          {/* Nothing to spread: the files stay at hand (a record, a co-op's log), folded away. */}
          {nothing ? (
            <details class="downloads-folded">
              <summary>{t('downloadsNoSpread')}</summary>
              <Downloads links={r.downloads} />
            </details>
          ) : (
            <>
              <h3>{t('downloads')}</h3>
              <Downloads links={r.downloads} />
            </>
          )}
        </article>
      ) : null}
      {/* The farm's own choice: its farmer may opt in to approval without review (docs/review.md). */}
      <AutoApproval farm={farm} models={(list.data ?? []).map((x) => x.model)} />
    </main>
  );
}

/** What an automation's log line needs of the farm: its devices' names and its metrics' units. */
interface LogWords {
  /** The device's name on the farm, its id when it has none. */
  name: (device: string) => string;
  /** The unit a device's metric is stored in: the protocol's, else its kit's. */
  unit: (device: string, metric: string) => string;
  /** A device's metric by name: the protocol's, else its kit's, else its id. */
  metric: (device: string, metric: string) => string;
}

const DETAIL_NUMBER = (d: AutomationLogView['detail'], k: string): number | undefined => {
  const v = d?.[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};
const DETAIL_STRING = (d: AutomationLogView['detail'], k: string): string | undefined => {
  const v = d?.[k];
  return typeof v === 'string' ? v : undefined;
};

/** A device as named on the farm, kept as written (a name, not words to translate). */
function DeviceName({ id, words }: { id: string; words: LogWords }) {
  return <span translate={false}>{words.name(id)}</span>;
}

/** Why the engine sent a command (gateway/automations/run.ts CloseReason), in the reader's words. */
function reasonText(reason: string, t: (k: string) => string): string | undefined {
  const words: Record<string, () => string> = {
    planned: () => t('logReasonPlanned'),
    condition: () => t('logReasonCondition'),
    band: () => t('logReasonBand'),
    safety: () => t('logReasonSafety'),
    override: () => t('logReasonOverride'),
    hold_ended: () => t('logReasonHoldEnded'),
    withdrawn: () => t('logReasonWithdrawn'),
    not_confirmed: () => t('logReasonNotConfirmed'),
    not_self_closed: () => t('logReasonNotSelfClosed'),
  };
  return Object.hasOwn(words, reason) ? words[reason]!() : undefined;
}

/**
 * An automation's log line from what the engine recorded (its event, device and details) in the
 * reader's language: devices by their names, metrics by theirs, values in their display units
 * (21 % ＜ 23.7 %), commands as words (水門を30分開く) and a valve's state as 開 / 閉. An event
 * this page does not word shows the engine's own text in the reader's language with the devices'
 * ids replaced by names; a log of an older gateway (one "ja / en" line) shows the reader's half.
 */
function LogText({ l, a, words }: { l: AutomationLogView; a: AutomationView; words: LogWords }) {
  const { t, lang } = useI18n();
  const d = l.detail;
  const device = l.device;
  /** The command a log speaks of as words, with the device it goes to. */
  const action = (to: string, command: string, minutes: number | undefined): ComponentChildren => {
    const who = <DeviceName id={to} words={words} />;
    if (command === 'open') return fill(t('logOpen'), { device: who });
    if (command === 'close') return fill(t('logClose'), { device: who });
    if (command === 'open_for' && minutes !== undefined)
      return fill(t('logOpenFor'), { device: who, n: fmtNumber(minutes, lang, 0) });
    if (command === 'open_for') return fill(t('logOpenForSet'), { device: who });
    return fill(t('logCommand'), { device: who, command: <span translate={false}>{command}</span> });
  };
  /** The minutes of the automation's own command to `to`, for a log that does not carry them. */
  const minutesOf = (to: string, command: string) =>
    [a.action, a.below, a.above].find((c) => c?.device === to && c.command === command)?.params?.minutes;
  /** A value of a device's metric as the tiles show it: 18 %, 開. */
  const reading = (on: string, metric: string, value: number) => {
    const v = fmtValue(metric, value, words.unit(on, metric), lang);
    return v.unit ? `${v.value} ${v.unit}` : v.value;
  };
  const command = DETAIL_STRING(d, 'command');
  if (device && l.event === 'fired' && command) {
    const sensor = DETAIL_STRING(d, 'sensor');
    const metric = DETAIL_STRING(d, 'metric');
    const value = DETAIL_NUMBER(d, 'value');
    const runs = DETAIL_NUMBER(d, 'runsToday');
    const max = DETAIL_NUMBER(d, 'maxRunsPerDay');
    if (sensor && metric && value !== undefined) {
      const tr = a.trigger;
      const same = tr.device === sensor && tr.metric === metric;
      const now = reading(sensor, metric, value);
      const condition = !same
        ? now
        : tr.kind === 'threshold'
          ? `${now} ${comparisonSign(tr.op, lang)} ${reading(sensor, metric, tr.value)}`
          : fill(t('logBand'), {
              value: now,
              band: `${fmtValue(metric, tr.low, words.unit(sensor, metric), lang).value}–${reading(sensor, metric, tr.high)}`,
            });
      return (
        <>
          {fill(t('logFired'), {
            sensor: <DeviceName id={sensor} words={words} />,
            metric: words.metric(sensor, metric),
            reading: condition,
            action: action(device, command, DETAIL_NUMBER(d, 'minutes') ?? minutesOf(device, command)),
          })}
          {runs !== undefined && max !== undefined
            ? fill(t('logRunsToday'), { runs: String(runs), max: String(max) })
            : null}
        </>
      );
    }
  }
  if (device && l.event === 'command_sent' && command) {
    const reason = DETAIL_STRING(d, 'reason');
    const why = reason ? reasonText(reason, t) : undefined;
    return (
      <>
        {fill(t('logSent'), { action: action(device, command, minutesOf(device, command)) })}
        {why ? fill(t('logBecause'), { reason: why }) : null}
      </>
    );
  }
  const metric = DETAIL_STRING(d, 'metric');
  const value = DETAIL_NUMBER(d, 'value');
  if (device && l.event === 'state_confirmed' && metric && value !== undefined) {
    const state =
      metric === 'valve_state'
        ? reading(device, metric, value)
        : `${words.metric(device, metric)} ${reading(device, metric, value)}`;
    return <>{fill(t('logReported'), { device: <DeviceName id={device} words={words} />, state })}</>;
  }
  if (device && l.event === 'closed') {
    const open = DETAIL_NUMBER(d, 'openMinutes');
    return (
      <>
        {fill(t('logClosed'), { device: <DeviceName id={device} words={words} /> })}
        {open !== undefined ? fill(t('logOpenMinutes'), { n: fmtNumber(open, lang, 1) }) : null}
      </>
    );
  }
  if (l.text) return <>{withNames(l.text[lang], words)}</>;
  // Logs of older gateways have only the one "ja / en" line: the reader's half of it. A line not
  // in that form is shown as it came, except English to a Japanese reader: the gateway's words then,
  // marked as such after the event's name (which says what happened).
  const half = messageHalf(l.message, lang);
  if (half !== undefined) return <>{withNames(half, words)}</>;
  if (lang === 'en' || JAPANESE.test(l.message)) return <>{withNames(l.message, words)}</>;
  return (
    <span class="sub">
      {t('gatewayDetail')}{' '}
      <span lang="en" translate={false}>
        {l.message}
      </span>
    </span>
  );
}

const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff]/;

/** The reader's half of a "ja / en" line (protocol/automation.ts AutomationLog.message), if it is one. */
function messageHalf(message: string, lang: Lang): string | undefined {
  for (let i = message.indexOf(' / '); i >= 0; i = message.indexOf(' / ', i + 1)) {
    const [ja, en] = [message.slice(0, i), message.slice(i + 3)];
    if (JAPANESE.test(ja) && !JAPANESE.test(en)) return lang === 'ja' ? ja : en;
  }
  return undefined;
}

/** What runs meanwhile, as the gateway's refusal ends (gateway/downlink-apply.ts automationCheck). */
type Kept = { kind: 'none' } | { kind: 'running' | 'disabled' | 'neither'; version: string | undefined };
const REFUSAL_POINTER = /^(\/[A-Za-z0-9_/]*): /;
const REFUSAL_KEPT =
  /; (?:(no earlier version of it runs on this gateway)|the previous version(?: \(v(\d+)\))? (keeps running|stays, disabled|stays, and the gateway cannot run it either))$/;

/**
 * The parts of a gateway's refusal of an automation that have a fixed form: the JSON pointer it
 * starts with (where in the automation the problem is) and the words it ends with (what runs
 * meanwhile). The rest is the planner's own sentence, shown only as the gateway's words.
 */
function refusalParts(reason: string): { pointer: string | undefined; kept: Kept | undefined } {
  const pointer = REFUSAL_POINTER.exec(reason)?.[1];
  const m = REFUSAL_KEPT.exec(reason);
  const kept: Kept | undefined = !m
    ? undefined
    : m[1]
      ? { kind: 'none' }
      : {
          kind: m[3] === 'keeps running' ? 'running' : m[3] === 'stays, disabled' ? 'disabled' : 'neither',
          version: m[2],
        };
  return { pointer, kept };
}

/**
 * The part of an automation a JSON pointer names, in the words of its form: 下限を下回ったら ›
 * 動かす機器（水門 田んぼ1号）. Undefined for a pointer outside what the form shows.
 */
function automationPlace(
  pointer: string,
  a: AutomationView,
  t: Translate,
  lang: Lang,
  words: LogWords,
): ComponentChildren | undefined {
  const [section, field, sub] = pointer.split('/').filter(Boolean);
  let head: string;
  let part: string | undefined;
  let device: string | undefined;
  if (section === 'trigger') {
    head = t(a.trigger.kind === 'band' ? 'triggerBand' : 'triggerThreshold');
    const parts: Record<string, () => string> = {
      device: () => t('sensorDevice'),
      metric: () => t('metric'),
      op: () => t('comparison'),
      value: () => t('thresholdValue'),
      low: () => t('bandLow'),
      high: () => t('bandHigh'),
    };
    part = field && Object.hasOwn(parts, field) ? parts[field]!() : undefined;
    if (field === 'device') device = a.trigger.device;
  } else if (section === 'action' || section === 'below' || section === 'above') {
    head = t(section === 'action' ? 'whenCondition' : section === 'below' ? 'whenBelow' : 'whenAbove');
    part =
      field === 'device'
        ? t('actuator')
        : field === 'params' && sub === 'minutes'
          ? t('openMinutes')
          : field === 'command' || field === 'params'
            ? t('commandLabel')
            : undefined;
    if (field === 'device') device = a[section]?.device;
  } else if (section === 'limits') {
    head = t('safetyLimits');
    const parts: Record<string, () => string> = {
      maxRunsPerDay: () => t('maxRunsPerDay'),
      maxOpenMinutes: () => t('maxOpenMinutesLabel'),
      cooldownMinutes: () => t('cooldownMinutes'),
      quietHours: () => t('quietHours'),
    };
    part = field && Object.hasOwn(parts, field) ? parts[field]!() : undefined;
  } else return undefined;
  const [open, close] = lang === 'ja' ? ['（', '）'] : [' (', ')'];
  return (
    <>
      {head}
      {part ? ` › ${part}` : null}
      {device ? (
        <>
          {open}
          <DeviceName id={device} words={words} />
          {close}
        </>
      ) : null}
    </>
  );
}

/**
 * Why the gateway refused an automation, in the reader's words as far as they can be found — the
 * part of the automation the problem is in and what runs meanwhile — then the gateway's own reason
 * (English) as its words.
 */
function GatewayRefusal({ a, reason, words }: { a: AutomationView; reason: string; words: LogWords }) {
  const { t, lang } = useI18n();
  const { pointer, kept } = refusalParts(reason);
  const place = pointer ? automationPlace(pointer, a, t, lang, words) : undefined;
  const end = lang === 'ja' ? '。' : '. ';
  const version =
    kept?.kind !== 'none' && kept?.version ? t('refusalVersion').replace('{n}', kept.version) : '';
  const keptText =
    kept === undefined
      ? undefined
      : kept.kind === 'none'
        ? t('refusalNoEarlier')
        : t(
            kept.kind === 'running'
              ? 'refusalKeepsRunning'
              : kept.kind === 'disabled'
                ? 'refusalStaysDisabled'
                : 'refusalNeitherRuns',
          ).replace('{version}', version);
  return (
    <>
      {t('automationOnGatewayRefused')}
      {end}
      {place ? (
        <>
          {fill(t('refusalWhere'), { place })}
          {end}
        </>
      ) : null}
      {keptText ? (
        <>
          {keptText}
          {end}
        </>
      ) : null}
      {reason ? (
        <span class="sub">
          {t('gatewayDetail')} {/* The gateway's own words: English, not for a page translator. */}
          <span lang="en" translate={false} data-testid="on-gateway-reason">
            {reason}
          </span>
        </span>
      ) : null}
    </>
  );
}

/** The engine's own text with the farm's device ids in it written as the devices' names. */
function withNames(text: string, words: LogWords): ComponentChildren[] {
  return text.split(/(?<![A-Za-z0-9_-])([A-Za-z0-9][A-Za-z0-9_-]*)(?![A-Za-z0-9_-])/).map((piece, i) =>
    i % 2 === 1 && words.name(piece) !== piece ? (
      <span key={i} translate={false}>
        {words.name(piece)}
      </span>
    ) : (
      piece
    ),
  );
}

type OverrideMode = OverrideView['mode'];
/** The longest override the server takes (7 days), in minutes. */
const MAX_OVERRIDE_MINUTES = 10_080;

/** The whole minutes left of an override (rounded up, 1 at least): its form's minutes. */
function minutesLeft(until: number, now: number): number {
  return Math.min(MAX_OVERRIDE_MINUTES, Math.max(1, Math.ceil((until - now) / 60_000)));
}

/** What an actuator's override form starts from: the override in force, else 閉めたままにする for 60 minutes. */
function overrideForm(active: OverrideView | undefined): { mode: OverrideMode; minutes: string } {
  return active
    ? { mode: active.mode, minutes: String(minutesLeft(active.until, Date.now())) }
    : { mode: 'hold_closed', minutes: '60' };
}

/**
 * One actuator's manual override. With an override in force the form starts from it — its mode,
 * and the minutes it has left (rounded up) — so pressing 手動操作を設定 again keeps it (for those
 * minutes, or as many as typed, from now) rather than flipping a gate held open to closed. What the
 * farmer types stays until the override changes (set here, on another phone or on the gateway's
 * page, or ended): then the form starts from it again.
 */
function OverrideForm({
  device,
  name,
  active,
  onSet,
  onClear,
}: {
  device: string;
  name: string;
  active: OverrideView | undefined;
  onSet: (mode: OverrideMode, minutes: number) => void;
  onClear: () => void;
}) {
  const { t, lang } = useI18n();
  const [form, setForm] = useState(() => overrideForm(active));
  // A new override (or none any more): the form starts from it again.
  useEffect(() => setForm(overrideForm(active)), [active?.mode, active?.until]);
  return (
    <form
      class="override"
      data-testid={`override-${device}`}
      onSubmit={(e) => {
        e.preventDefault();
        onSet(form.mode, Number(form.minutes));
      }}
    >
      <h3>{name}</h3>
      <p class="muted">
        {active
          ? `${t(`override_${active.mode}`)} · ${t('until')} ${fmtTime(active.until, lang)} · ${active.by}（${t(`overrideSource_${active.source}`)}）`
          : t('noOverride')}
      </p>
      <label>
        {t('overrideMode')}
        <select
          name="mode"
          value={form.mode}
          onChange={(e) => {
            const mode = (e.currentTarget as HTMLSelectElement).value as OverrideMode;
            setForm((f) => ({ ...f, mode }));
          }}
        >
          <option value="hold_closed">{t('override_hold_closed')}</option>
          <option value="hold_open">{t('override_hold_open')}</option>
          <option value="pause">{t('override_pause')}</option>
        </select>
      </label>
      <label>
        {t('durationMinutes')}
        <input
          name="minutes"
          type="number"
          min={1}
          max={MAX_OVERRIDE_MINUTES}
          value={form.minutes}
          onInput={(e) => {
            const minutes = (e.currentTarget as HTMLInputElement).value;
            setForm((f) => ({ ...f, minutes }));
          }}
          required
        />
      </label>
      <div class="actions">
        <button type="submit" class="primary">
          {t('setOverride')}
        </button>
        {active ? (
          <button type="button" onClick={onClear}>
            {t('clearOverride')}
          </button>
        ) : null}
      </div>
    </form>
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
  const words = useMemo<LogWords>(() => {
    const mine = (devices.data ?? []).filter((d) => d.farm === farm);
    const kitOf = new Map((kits.data ?? []).map((k) => [k.id, k]));
    const kitId = (id: string) => mine.find((d) => d.id === id)?.kit;
    return {
      name: (id) => mine.find((d) => d.id === id)?.name ?? id,
      unit: (id, metric) => {
        if (isMetricName(metric)) return METRICS[metric].unit;
        const kit = kitId(id);
        return (kit ? kitOf.get(kit)?.metricDetails.find((m) => m.id === metric)?.unit : undefined) ?? '';
      },
      metric: (id, metric) => metricName(metric, lang, kitMetricNames(kits.data ?? [], kitId(id))),
    };
  }, [devices.data, kits.data, farm, lang]);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState('');
  /** '' (no form), 'new', or the id of the automation being edited. */
  const [editing, setEditing] = useState('');
  const [saved, setSaved] = useState<Say | null>(null);
  /** The id of the automation whose deletion waits for the farmer's confirmation, or ''. */
  const [confirmDelete, setConfirmDelete] = useState('');
  /** Why the last deletion failed, for the card it was asked on. */
  const [deleteError, setDeleteError] = useState<{ id: string; error: unknown } | null>(null);
  const [deleting, setDeleting] = useState(false);
  /** The 削除 button that opened the confirmation: the focus goes back to it on cancel. */
  const deleteOpener = useRef<HTMLButtonElement | null>(null);
  const keepButton = useRef<HTMLButtonElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const logs = useLoad(() => (open ? reviewApi.automationLogs(open) : Promise.resolve([])), open);
  // What the gateway did (logs, states) and changes from another phone show at once; the list
  // under a form being filled in waits until the form is closed.
  useLiveChanges(farm, ['automation', 'automation_log', 'override'], () => {
    logs.reload();
    overrides.reload();
    if (!editing) list.reload();
  });
  // The gateways' reports come up by sync, with no live change: while a card waits for one (and
  // no form is open), the list is fetched again quietly — after 5 s, then less often, at most
  // every minute — and replaced without the loading line.
  const waiting = !editing && (list.data ?? []).some((a) => a.onGateway.state === 'pending');
  const polls = useRef(0);
  const setList = list.set;
  useEffect(() => {
    if (!waiting) {
      polls.current = 0;
      return;
    }
    let cancelled = false;
    const timer = setTimeout(
      () => {
        polls.current++;
        reviewApi.automations(farm).then(
          (data) => !cancelled && setList(data),
          () => undefined, // the next live change or poll tries again
        );
      },
      Math.min(5_000 * 2 ** polls.current, 60_000),
    );
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [waiting, list.data, farm, setList]);
  const formReady = !devices.loading && !kits.loading;
  // The cards wait for the farm's devices and kits on the first load: a card is worded with their
  // names ("水位センサー 田んぼ1号"), and one drawn before them would flash the ids and then change.
  const namesLoading = devices.firstLoading || kits.firstLoading;
  const edit = (what: string) => {
    setSaved(null);
    setEditing(editing === what ? '' : what);
  };
  const onSaved = () => {
    setEditing('');
    setSaved(() => (t: Translate) => t('automationSaved'));
    list.reload();
  };
  const askDelete = (a: AutomationView, opener: HTMLButtonElement) => {
    setSaved(null);
    setDeleteError(null);
    deleteOpener.current = opener;
    setConfirmDelete(a.id);
    // The safe choice takes the focus: a second Enter or tap keeps the automation.
    setTimeout(() => keepButton.current?.focus(), 0);
  };
  const cancelDelete = () => {
    setConfirmDelete('');
    setDeleteError(null);
    setTimeout(() => deleteOpener.current?.focus(), 0);
  };
  const remove = async (a: AutomationView) => {
    if (deleting) return;
    setDeleting(true);
    setDeleteError(null);
    setError(null);
    /** The automation is no longer on the server: its card, form and log leave the page. */
    const gone = () => {
      setConfirmDelete((c) => (c === a.id ? '' : c));
      setEditing((e) => (e === a.id ? '' : e));
      setOpen((o) => (o === a.id ? '' : o));
      list.set((list.data ?? []).filter((x) => x.id !== a.id));
      // The focus was on the confirmation, which leaves with the card: the page's heading takes it.
      const focused = document.activeElement;
      if (!focused || focused === document.body || focused.closest('.confirm')) heading.current?.focus();
      list.reload();
    };
    try {
      await reviewApi.automationDelete(a.id);
      gone();
      setSaved(() => (t: Translate, l: Lang) => t('automationDeleted').replace('{name}', () => a.name[l]));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        // Deleted elsewhere meanwhile (or no longer the farmer's): say so, and show the list as it is.
        gone();
        setError(e);
      } else {
        // Refused or not sent: the card and its confirmation stay, to try again or keep it.
        setDeleteError({ id: a.id, error: e });
      }
    } finally {
      setDeleting(false);
    }
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
  // Every actuator of the farm can be held by hand, with or without an automation on it.
  const actuators = new Set([
    ...choices.actuators.map((a) => a.id),
    ...(list.data ?? [])
      .flatMap((a) => [a.action?.device, a.below?.device, a.above?.device])
      .filter((d): d is string => !!d),
  ]);
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
      <h1 ref={heading} tabIndex={-1}>
        {t('automations')}
      </h1>
      <p role="status" class="ok">
        {saved?.(t, lang)}
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
      {/* Only the first load says so: a reload (a save, a live change, another phone's edit) keeps
          the cards where they are, so a button does not move from under a finger pressing it. */}
      {list.firstLoading || namesLoading ? <Loading /> : null}
      {list.data?.length === 0 ? <p class="muted">{t('noAutomations')}</p> : null}
      <ul class="cards">
        {(namesLoading ? [] : (list.data ?? [])).map((a) => (
          <li key={a.id} class="card" data-testid={`automation-${a.id}`}>
            <h2>{a.name[lang]}</h2>
            <p data-testid="trigger">
              {a.enabled ? t('enabled') : t('disabled')} ·{' '}
              <TriggerText trigger={a.trigger} devices={devices.data ?? []} kits={kits.data ?? []} />
            </p>
            <p data-testid="commands">
              <CommandsText a={a} devices={devices.data ?? []} />
            </p>
            <p data-testid="on-gateway" class={a.onGateway.state === 'refused' ? 'warn' : 'muted'}>
              {a.onGateway.state === 'refused' ? (
                <GatewayRefusal a={a} reason={a.onGateway.reason ?? ''} words={words} />
              ) : a.onGateway.state === 'pending' ? (
                t('automationOnGatewayPending')
              ) : a.enabled ? (
                t('automationOnGatewayRunning')
              ) : (
                t('automationOnGatewayStopped')
              )}
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
              <button
                type="button"
                class="danger"
                aria-expanded={confirmDelete === a.id}
                onClick={(e) => askDelete(a, e.currentTarget)}
              >
                {t('deleteAutomation')}
              </button>
            </div>
            {confirmDelete === a.id ? (
              <div
                class="confirm"
                role="group"
                aria-labelledby={`delete-q-${a.id}`}
                data-testid="delete-confirm"
              >
                <p id={`delete-q-${a.id}`} class="warn">
                  {t('automationDeleteConfirm').replace('{name}', () => a.name[lang])}
                </p>
                <ErrorBox error={deleteError?.id === a.id ? deleteError.error : null} />
                <div class="actions">
                  <button type="button" class="danger" disabled={deleting} onClick={() => void remove(a)}>
                    {t('automationDeleteYes')}
                  </button>
                  <button type="button" ref={keepButton} onClick={cancelDelete}>
                    {t('cancel')}
                  </button>
                </div>
              </div>
            ) : null}
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
                    <span class="muted" data-testid="log-text">
                      <LogText l={l} a={a} words={words} />
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
        {[...actuators].map((device) => (
          <OverrideForm
            key={device}
            device={device}
            name={devices.data?.find((d) => d.id === device)?.name ?? device}
            active={overrides.data?.find((x) => x.device === device && x.active)}
            onSet={(mode, minutes) => void override(device, mode, minutes)}
            onClear={() => void override(device, 'clear', 0)}
          />
        ))}
        {actuators.size === 0 ? <p class="muted">{t('noActuators')}</p> : null}
      </Section>
    </main>
  );
}
