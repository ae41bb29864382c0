// The extension officer's pages: the review queue (oldest and largest first, stale inputs marked),
// the detail view of one recommendation (map of zones and rates, inputs with their freshness, the
// heatmap of the scene it was computed from under its zones, model card, economics with the economic
// optimum and the model's notes) with approve / edit per-zone rates with a reason / reject, and the
// region overview with the CSV export of decisions. The detail follows the server live: a change
// made meanwhile (superseded, decided or edited by someone else) is reloaded and said, and what
// the officer typed is kept; 承認する with rates typed in saves them first, so none is lost.
import type { ComponentChildren, Ref } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { FarmFields, FieldScene, RegionOverview } from '../../../protocol/views.ts';
import type { AuditEntry, EditResult, ReviewDetail } from '../../../protocol/review.ts';
import { zoneRateOfPath } from '../../../protocol/pointer.ts';
import type { Coverage } from '../../../protocol/recommendation.ts';
import { api, ApiError } from '../api.ts';
import { useLiveChanges } from '../live.ts';
import { hasKey, useI18n, type Lang } from '../i18n.ts';
import { href } from '../route.ts';
import {
  fmtDate,
  fmtNumber,
  fmtRate,
  fmtTime,
  fmtYen,
  inputUnit,
  metricName,
  zoneRateLabel,
  readInputSource,
  type RateUnit,
} from '../format.ts';
import { fieldSpread } from '../../review/totals.ts';
import { EDIT_KG_HA, reasonState, reasonText, reviewApi, typedRate } from '../review-api.ts';
import { rangeError } from '../automation-draft.ts';
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
  FieldMap,
  PrescriptionMap,
  type MapPolygon,
  type PrescriptionZone,
} from '../components/FieldMap.tsx';
import { HeatmapLegend, sceneLayer, useHeatmapOverlay } from '../components/Heatmap.tsx';
import { AutoApproval } from '../components/AutoApproval.tsx';

/** A recommendation that reached the server more than this after it was made says when it did. */
const RECEIVED_LATE_MS = 3_600_000;

export function ReviewQueue() {
  const { t, lang } = useI18n();
  const q = useLoad(() => reviewApi.queue(), 'queue');
  // A recommendation synced, or decided by a colleague, changes the queue at once.
  useLiveChanges(null, ['review'], q.reload);
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('reviewQueue')}</h1>
      <ErrorBox error={q.error} />
      {q.loading ? <Loading /> : null}
      {q.data?.length === 0 ? <p class="muted">{t('queueEmpty')}</p> : null}
      {q.data?.length ? (
        <div class="scroll">
          <table class="table">
            <caption class="sr-only">{t('reviewQueue')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('farm')}</th>
                <th scope="col">{t('field')}</th>
                <th scope="col">{t('created')}</th>
                <th scope="col">{t('area')}</th>
                <th scope="col">{t('maxRate')}</th>
                <th scope="col">{t('status')}</th>
              </tr>
            </thead>
            <tbody>
              {q.data.map((r) => (
                <tr key={r.id} data-testid={`queue-${r.id}`}>
                  <td>{r.farmName}</td>
                  <td>
                    <a href={href('review', r.id)}>{r.fieldName ?? r.field}</a>
                    {r.staleInputs > 0 ? (
                      <>
                        {' '}
                        <span class="badge warn" data-testid="stale-badge">
                          {t('reviewStaleBadge').replace('{n}', () => String(r.staleInputs))}
                        </span>
                      </>
                    ) : null}
                  </td>
                  <td>
                    {/* When the advice was made (the queue's order); when it reached the server
                        beneath, if a gateway that was offline sent it later. */}
                    <Freshness time={r.createdAt} staleMs={Infinity} />
                    {Date.parse(r.receivedAt) - Date.parse(r.createdAt) > RECEIVED_LATE_MS ? (
                      <span class="sub" data-testid="queue-received">
                        {t('received')} <Freshness time={r.receivedAt} staleMs={Infinity} />
                      </span>
                    ) : null}
                  </td>
                  <td>
                    {fmtNumber(r.areaHa, lang, 2)} <span translate={false}>ha</span>
                  </td>
                  <td>
                    <Rate kgHa={r.maxKgNHa} />
                  </td>
                  <td>{t(`status_${r.status}`)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </main>
  );
}

/**
 * A model input as the officer reads it: its name from the catalogue (`modelInput_…`, one for each
 * input of the installed model cards), with the model's own name beneath it (and as its tooltip);
 * an input the catalogue does not know — a new model's — shows the model's name only.
 */
function InputName({ name }: { name: string }) {
  const { t } = useI18n();
  if (!hasKey(`modelInput_${name}`)) return <code translate={false}>{name}</code>;
  return (
    <span title={name}>
      {t(`modelInput_${name}`)}
      <code class="sub" translate={false}>
        {name}
      </code>
    </span>
  );
}

/** A name in a source (a profile, a path, a scene, a device) as it is written, never translated. */
const Name = ({ children }: { children: ComponentChildren }) => <code translate={false}>{children}</code>;

/** A day of the calendar ("2026-04-02": a scouting or planting day) as the reader writes it. */
const dayText = (day: string, lang: Lang) => fmtDate(`${day}T00:00:00Z`, lang, 'UTC');

/** A zonal statistic of an index (protocol/model-card.ts IndexStatName) in words. */
function statText(stat: string, t: (k: string) => string): string {
  switch (stat) {
    case 'mean':
      return t('inputStatMean');
    case 'median':
      return t('inputStatMedian');
    case 'p10':
      return t('inputStatP10');
    case 'p90':
      return t('inputStatP90');
    case 'min':
      return t('inputStatMin');
    default:
      return t('inputStatMax');
  }
}

/**
 * Where a model input came from, in the reader's words (readInputSource reads the gateway's
 * English into its parts): the names in it (profile, path, scene, device) kept as written, the
 * farmer's notes as typed. Null for a source of another form, which is shown as written.
 */
function sourceWords(source: string, lang: Lang, t: (k: string) => string): ComponentChildren | null {
  const s = readInputSource(source);
  if (!s) return null;
  const index = (idx: string) => <Name>{idx.toUpperCase()}</Name>;
  const note = (text: string | null) =>
    text ? fill(t('inputSourceNote'), { note: <span translate={false}>{text}</span> }) : null;
  switch (s.kind) {
    case 'profile':
      return fill(t('inputSourceProfile'), {
        profile: <Name>{s.profile}</Name>,
        path: <Name>{s.path}</Name>,
      });
    case 'index':
      return fill(t(s.scene ? 'inputSourceIndexScene' : 'inputSourceIndex'), {
        index: index(s.index),
        stat: statText(s.stat, t),
        scene: <Name>{s.scene}</Name>,
      });
    case 'zoneRecord':
      return fill(t('inputSourceZoneRecord'), { name: <Name>{s.name}</Name> });
    case 'cardDefault':
      return fill(t('inputSourceCardDefault'), { name: <Name>{s.name}</Name> });
    case 'sensor':
      return fill(t(s.depthM === null ? 'inputSourceSensor' : 'inputSourceSensorDepth'), {
        device: <Name>{s.device}</Name>,
        depth: <span translate={false}>{fmtNumber(s.depthM, lang, 2)}</span>,
        metric: metricName(s.metric, lang),
      });
    case 'strip':
      return s.date ? (
        <>
          {fill(t('inputSourceStripScouted'), { date: dayText(s.date, lang) })}
          {note(s.note)}
        </>
      ) : (
        t('inputSourceStrip')
      );
    case 'observation':
      return (
        <>
          {fill(t('inputSourceObservation'), { date: dayText(s.date, lang) })}
          {note(s.note)}
        </>
      );
    case 'planting':
      return s.measured === null || s.total === null
        ? fill(t('inputSourcePlanting'), { date: dayText(s.date, lang) })
        : fill(t('inputSourcePlantingPart'), {
            date: dayText(s.date, lang),
            measured: fmtNumber(s.measured, lang, 0),
            total: durationText(s.total, 'day', lang),
          });
    case 'p95':
      return fill(t(s.estimated ? 'inputSourceP95Estimated' : 'inputSourceP95'), { index: index(s.index) });
  }
}

/** An input's source: worded in the reader's language where its form is known, else as written. */
function SourceText({ source }: { source: string }) {
  const { t, lang } = useI18n();
  const words = sourceWords(source, lang, t);
  if (words === null)
    return (
      <code class="sub" translate={false}>
        {source}
      </code>
    );
  return (
    <span class="sub" title={source} data-testid="input-source-words">
      {words}
    </span>
  );
}

/**
 * A table-shaped input (a crop profile's table, fed to the model as it is) as the recommendation
 * records it: JSON cut to 32 characters ("[[1,1],[0,0]]", "[30]", "[[2,1.5,1],[1.5,1.5,1],[1.5,1,0").
 * The rows that were recorded whole; `cut` when the record stops before the table's end.
 */
export function readTable(value: string): { rows: number[][]; flat: boolean; cut: boolean } | null {
  if (!value.startsWith('[')) return null;
  const numbers = (xs: unknown[]) => xs.every((x) => typeof x === 'number' && Number.isFinite(x));
  try {
    const v = JSON.parse(value) as unknown;
    if (Array.isArray(v) && numbers(v)) return { rows: [v as number[]], flat: true, cut: false };
    if (Array.isArray(v) && v.length && v.every((row) => Array.isArray(row) && numbers(row)))
      return { rows: v as number[][], flat: false, cut: false };
    return null;
  } catch {
    // Cut short: the whole rows of a table, or a list's numbers but the last (it may be cut).
    const num = (x: string) => (x.trim() === '' ? Number.NaN : Number(x));
    if (value.startsWith('[[')) {
      const rows = [...value.slice(1).matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1]!.split(',').map(num));
      return rows.length && rows.every((row) => row.every(Number.isFinite))
        ? { rows, flat: false, cut: true }
        : null;
    }
    const list = value.slice(1).split(',').slice(0, -1).map(num);
    return list.length && list.every(Number.isFinite) ? { rows: [list], flat: true, cut: true } : null;
  }
}

/**
 * Bins between edges as a guideline table reads them, a value on an edge in the lower bin (as the
 * rice guideline models bin, models/published/rice-topdress.ts): "30以下", "30〜33", "39超".
 */
function binLabels(edges: number[], lang: Lang, t: (k: string) => string): string[] {
  const n = (v: number) => fmtNumber(v, lang, 3);
  return [
    t('binAtMost').replace('{v}', n(edges[0]!)),
    ...edges.slice(1).map((e, k) => t('binBetween').replace('{a}', n(edges[k]!)).replace('{b}', n(e))),
    t('binAbove').replace('{v}', n(edges[edges.length - 1]!)),
  ];
}

/**
 * An input's value as the officer reads it: a number with its unit, a list as a list ("30、33 SPAD"),
 * a table as a small table whose rows and columns are named by the bins of the edges the model
 * card ties to them (a dimension "S1" has the bins of the input shaped ["S"]), else by position.
 */
function InputValueView({ i, r }: { i: ReviewDetail['inputs'][number]; r: ReviewDetail }) {
  const { t, lang } = useI18n();
  const unit = inputUnit(i.unit, lang);
  const unitText = unit ? <span translate={false}>{` ${unit}`}</span> : null;
  if (typeof i.value === 'number')
    return (
      <span translate={false}>
        {fmtNumber(i.value, lang, 3)}
        {unit ? ` ${unit}` : ''}
      </span>
    );
  const table = readTable(i.value);
  if (!table)
    return (
      <span translate={false}>
        {i.value}
        {unit ? ` ${unit}` : ''}
      </span>
    );
  const cut = table.cut ? <span class="sub">{t('inputCut')}</span> : null;
  if (table.flat)
    return (
      <span data-testid="input-list">
        <span translate={false}>
          {table.rows[0]!.map((v) => fmtNumber(v, lang, 3)).join(lang === 'ja' ? '、' : ', ')}
          {table.cut ? '…' : ''}
          {unit ? ` ${unit}` : ''}
        </span>
        {cut}
      </span>
    );
  // The edges that name each dimension of the table, from the card and the recommendation's inputs.
  const cardInputs = r.model.card?.inputs ?? [];
  const shape = cardInputs.find((c) => c.name === i.name)?.shape;
  const edgesOf = (dim: string | undefined) => {
    const of = dim?.endsWith('1')
      ? cardInputs.find(
          (c) => Array.isArray(c.shape) && c.shape.length === 1 && c.shape[0] === dim.slice(0, -1),
        )
      : undefined;
    const read = of && r.inputs.find((x) => x.name === of.name && typeof x.value === 'string');
    const edges = read ? readTable(read.value as string) : null;
    return edges?.flat && !edges.cut && of
      ? { labels: binLabels(edges.rows[0]!, lang, t), unit: inputUnit(of.unit, lang), name: of.name }
      : undefined;
  };
  const dims = Array.isArray(shape) && shape.length === 2 ? shape : [];
  const rowsBy = edgesOf(dims[0]);
  const colsBy = edgesOf(dims[1]);
  const width = Math.max(...table.rows.map((row) => row.length));
  const named =
    rowsBy && colsBy && colsBy.labels.length === width && rowsBy.labels.length >= table.rows.length
      ? { rows: rowsBy, cols: colsBy }
      : null;
  const nameOf = (n: string) => (hasKey(`modelInput_${n}`) ? t(`modelInput_${n}`) : n);
  const axes = named
    ? t('inputTableAxes')
        .replace('{rows}', () => nameOf(named.rows.name))
        .replace('{cols}', () => nameOf(named.cols.name))
    : '';
  return (
    <div data-testid="input-table">
      <table class="mini">
        {named ? (
          <thead>
            <tr>
              <th scope="col" title={axes}>
                <span class="sr-only">{axes}</span>
                <span aria-hidden="true" translate={false}>
                  {named.rows.unit} ＼ {named.cols.unit}
                </span>
              </th>
              {named.cols.labels.map((l) => (
                <th scope="col" key={l}>
                  {l}
                </th>
              ))}
            </tr>
          </thead>
        ) : null}
        <tbody>
          {table.rows.map((row, k) => (
            <tr key={k}>
              {named ? <th scope="row">{named.rows.labels[k]}</th> : null}
              {row.map((v, c) => (
                <td key={c} translate={false}>
                  {fmtNumber(v, lang, 3)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {unitText ? <span class="sub">{unitText}</span> : null}
      {cut}
    </div>
  );
}

/**
 * Words of a model card that the card has in English only (its method, source and fitting), kept as
 * written: marked English and not for translation, and, on a Japanese page, labelled as the card's
 * own words rather than set into a Japanese sentence.
 */
function CardWords({ children, testid }: { children: ComponentChildren; testid?: string }) {
  return (
    <span lang="en" translate={false} data-testid={testid}>
      {children}
    </span>
  );
}

/**
 * The model card: its title in the reader's language, how far it was fitted (published, fitted,
 * provisional) in words, then what the card says of its method and fitting, in its own English.
 */
function ModelCardView({ card }: { card: NonNullable<ReviewDetail['model']['card']> }) {
  const { t, lang } = useI18n();
  const { method, fitted } = card;
  return (
    <div data-testid="model-card">
      <dl class="dl">
        <dt>{t('modelTitle')}</dt>
        {/* The model's name, as its card gives it in the reader's language (names in it kept: SPAD). */}
        <dd translate={false}>{card.title[lang]}</dd>
        <dt>{t('fittedStatus')}</dt>
        <dd class={fitted.status === 'provisional' ? 'warn' : undefined} data-testid="fitted-status">
          {t(`fittedStatus_${fitted.status}`)}
        </dd>
      </dl>
      <h3 class="card-words-h">{t('cardWords')}</h3>
      <dl class="dl" data-testid="card-words">
        <dt>{t('method')}</dt>
        <dd>
          <CardWords>{method.name}</CardWords>
        </dd>
        <dt>{t('source')}</dt>
        <dd>
          <CardWords>{method.source}</CardWords>
        </dd>
        <dt>{t('fittedWhere')}</dt>
        <dd>
          <CardWords testid="fitted-where">{fitted.where}</CardWords>
        </dd>
        <dt>{t('fittedData')}</dt>
        <dd>
          <CardWords>{fitted.data}</CardWords>
        </dd>
        {fitted.calibration ? (
          <>
            <dt>{t('fittedCalibration')}</dt>
            <dd>
              <CardWords>{fitted.calibration}</CardWords>
            </dd>
          </>
        ) : null}
      </dl>
    </div>
  );
}

/**
 * Notes whose Japanese quotes the model card, which has the words in English only: the lead is
 * Japanese, the rest after its colon the card's (edge/recommend/recommend.ts, provisional_calibration:
 * "暫定の較正を使用: Not fitted: a provisional line…").
 */
const CARD_QUOTING_NOTES = new Set(['provisional_calibration']);

/**
 * A note as the officer reads it. In Japanese, a note quoting the model card reads as its Japanese
 * lead and, apart and labelled as the card's own words, the card's English.
 */
function NoteText({ code, text }: { code: string; text: string }) {
  const { t, lang } = useI18n();
  const cut = lang === 'ja' && CARD_QUOTING_NOTES.has(code) ? text.search(/[:：]/) : -1;
  if (cut < 0) return <>{text}</>;
  return (
    <>
      {text.slice(0, cut)}
      <span class="card-words">
        <span class="sub">{t('cardWords')}</span>
        <CardWords>{text.slice(cut + 1).trim()}</CardWords>
      </span>
    </>
  );
}

/** The numbers of the zones an input was read for, in zone order ("1, 3"); an unknown id as it is. */
function zoneNumbers(ids: string[], zones: ReviewDetail['zones']): string {
  return ids
    .map((id) => zones.find((z) => z.id === id)?.zone ?? id)
    .sort((a, b) =>
      typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b)),
    )
    .join(', ');
}

const enc = encodeURIComponent;

/**
 * The heatmap of the scene the recommendation was computed from (not the field's latest), under
 * the recommendation's zones as outlines and the field's boundary, with the legend. The scene is
 * asked for by its id, however old; only a scene the server does not hold for the field (never
 * received) is said to be missing. A scene whose PNGs the server no longer keeps (it keeps a farm's
 * newest scenes' maps only) shows the zones and the index's mean without a heatmap.
 */
function ReviewImagery({
  r,
  zones,
  boundary,
}: {
  r: ReviewDetail;
  zones: MapPolygon[];
  boundary: GeoJSON.Geometry | null;
}) {
  const { t } = useI18n();
  const sceneId = r.imagery.sceneId;
  const loaded = useLoad(
    async () => {
      if (!sceneId) return undefined;
      const farm = enc(r.farm.id);
      const scene = await api<FieldScene>(
        `/api/v1/farms/${farm}/fields/${enc(r.field.id)}/scenes/${enc(sceneId)}`,
      ).catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      });
      return { scene };
    },
    `${r.farm.id}/${r.field.id}/${sceneId ?? '-'}`,
  );
  const scene = loaded.data?.scene ?? undefined;
  const layer = sceneLayer(scene, r.imagery.index);
  const overlay = useHeatmapOverlay(layer);
  const fields = useMemo<MapPolygon[]>(
    () => (boundary ? [{ id: r.field.id, geometry: boundary, label: r.field.name ?? r.field.id }] : []),
    [boundary, r.field.id, r.field.name],
  );
  if (!sceneId) return null;
  if (loaded.error) return <ErrorBox error={loaded.error} />;
  if (loaded.loading) return <Loading />;
  if (!scene) return <p class="muted">{t('sceneNotHeld')}</p>;
  return (
    <div data-testid="review-heatmap">
      <FieldMap fields={fields} zones={zones} overlay={overlay} label={t('sceneOfRecommendation')} />
      {layer ? <HeatmapLegend scene={scene} layer={layer} unavailable="deleted" /> : null}
    </div>
  );
}

/** The unit an officer types and reads a rate in: kg N/10a in Japanese, kg N/ha in English. */
const rateUnitOf = (lang: Lang): RateUnit => (lang === 'ja' ? 'kg/10a' : 'kg/ha');
const perUnit = (lang: Lang) => (lang === 'ja' ? 10 : 1);

/**
 * A rate (kg N/ha) as a number in the reader's unit with at least one decimal: "3.91", "4.0",
 * "1.995". The rounding of every other rate on the page (fmtRate): the map, its legend and the
 * audit read what the zone table reads.
 */
const rateNumber = (kgHa: number, lang: Lang): string => fmtRate(kgHa, rateUnitOf(lang), lang, 1);

/** A limit (kg N/ha) in the reader's unit: "12 kg/10a". */
const limitText = (kgHa: number, lang: Lang) =>
  `${fmtRate(kgHa, rateUnitOf(lang), lang)} ${rateUnitOf(lang)}`;

/**
 * The zones' area-weighted mean rate as applied (the officer's edits included): the default rate the
 * spreader applies where no zone is. The same mean as the prescription files' default
 * (meanProductRate, edge/prescriptions/rows.ts), here over the review's applied rates: that module
 * is not imported because it brings the recommendation's validator (TypeBox, ~125 kB) into the app.
 */
function meanRate(zones: ReviewDetail['zones']): { kgNHa: number; productKgHa: number } {
  const area = zones.reduce((s, z) => s + z.areaHa, 0);
  const mean = (f: (z: ReviewDetail['zones'][number]) => number) =>
    area > 0 ? zones.reduce((s, z) => s + f(z) * z.areaHa, 0) / area : 0;
  return { kgNHa: mean((z) => z.applied.kgNHa), productKgHa: mean((z) => z.applied.productKgHa) };
}

/** An area as the page writes it: "0.22 ha", and a sliver under 0.01 ha in m² ("30 m²"), never "0.00 ha". */
function areaText(ha: number, lang: Lang): string {
  return ha >= 0.01 || ha === 0
    ? `${fmtNumber(ha, lang, 2)} ha`
    : `${fmtNumber(Math.max(1, Math.round(ha * 10_000)), lang, 0)} m²`;
}

/**
 * How much of the field the zones cover (Recommendation.coverage), above the zone table so the
 * officer reads it before approving: "ゾーンは圃場の63 %（0.22 ha / 0.35 ha）を覆っています。ゾーン外の
 * 0.13 ha（…）は、ゾーンの平均の量（窒素 …）で散布されます。" The rest is what every
 * prescription gives the default rate (defaultRow, edge/prescriptions/rows.ts).
 */
function CoverageNote({ r, coverage }: { r: ReviewDetail; coverage: Coverage }) {
  const { t, lang } = useI18n();
  const area = (v: number) => (
    <span class="nowrap" translate={false}>
      {areaText(v, lang)}
    </span>
  );
  const rest = coverage.uncovered ? coverage.uncoveredAreaHa : 0;
  if (!(rest > 0))
    return (
      <p class="muted" data-testid="coverage">
        {fill(t('rxCoverageFull'), { field: area(coverage.fieldAreaHa) })}
      </p>
    );
  const covered = Math.max(0, coverage.fieldAreaHa - rest);
  // Never "100 %" while a part is uncovered, nor "0 %" while a zone is there.
  const share = coverage.fieldAreaHa > 0 ? (covered / coverage.fieldAreaHa) * 100 : 0;
  const pct = Math.min(99, Math.max(covered > 0 ? 1 : 0, Math.round(share)));
  const mean = meanRate(r.zones);
  const unit = rateUnitOf(lang);
  return (
    <p class="notice" data-testid="coverage">
      {fill(t('rxCoveragePart'), {
        pct: <span class="nowrap" translate={false}>{`${pct} %`}</span>,
        covered: area(covered),
        field: area(coverage.fieldAreaHa),
        rest: area(rest),
        rate: <span class="nowrap" translate={false}>{`${rateNumber(mean.kgNHa, lang)} ${unit}`}</span>,
        product: r.recommendation.product.name[lang],
        amount: (
          <span class="nowrap" translate={false}>{`${rateNumber(mean.productKgHa, lang)} ${unit}`}</span>
        ),
      })}
    </p>
  );
}

/**
 * A number of whole days or hours as the reader's language writes it, singular or plural as the
 * number wants: "12 日", "1 day", "30 hours", "1 hour".
 */
function durationText(n: number, unit: 'day' | 'hour' | 'minute', lang: Lang): string {
  return new Intl.NumberFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
    style: 'unit',
    unit,
    unitDisplay: 'long',
    maximumFractionDigits: 0,
  }).format(n);
}

/** How old an input was, in days past two days, else in hours, under an hour in minutes: "12 日", "30 時間", "1 hour", "20 分". */
function ageText(hours: number, lang: Lang): string {
  if (hours < 1) return durationText(Math.max(0, Math.round(hours * 60)), 'minute', lang);
  return hours >= 48
    ? durationText(Math.floor(hours / 24), 'day', lang)
    : durationText(Math.round(hours), 'hour', lang);
}

/**
 * When an input was observed: how old it was when the recommendation was made, marked stale by
 * that age (the server's `stale`, which the banner above the actions and the queue's badge count),
 * and the time itself beneath. Not its age now: a sensor value an hour old when the advice was made
 * is not stale evidence because the officer opens the review two days later.
 */
function InputAge({ i }: { i: ReviewDetail['inputs'][number] }) {
  const { t, lang } = useI18n();
  if (!i.time) return <>{t('constant')}</>;
  return (
    <>
      <span class={i.stale ? 'fresh stale' : 'fresh'} data-testid="input-age">
        {i.stale ? `${t('stale')} · ` : ''}
        {fill(t('inputAgeAtCreation'), {
          age: <span class="nowrap">{ageText(i.ageHoursAtCreation ?? 0, lang)}</span>,
        })}
      </span>
      <time class="sub" dateTime={i.time}>
        {fmtTime(i.time, lang)}
      </time>
    </>
  );
}

/** An input's name as the officer reads it, in a sentence: the catalogue's, else the model's own. */
function inputLabel(name: string, t: (k: string) => string): ComponentChildren {
  return hasKey(`modelInput_${name}`) ? t(`modelInput_${name}`) : <code translate={false}>{name}</code>;
}

/**
 * What was stale when the recommendation was made, as the queue counts it (staleCount on the
 * server): the scene once, and every other stale input once by name, at its largest age.
 */
function staleLines(
  r: ReviewDetail,
  lang: Lang,
  t: (k: string) => string,
): { key: string; text: ComponentChildren }[] {
  const stale = r.inputs.filter((i) => i.stale);
  const lines: { key: string; text: ComponentChildren }[] = [];
  const sceneInputs = stale.filter((i) => i.category === 'imagery');
  if (r.imagery.stale || sceneInputs.length) {
    const hours =
      r.imagery.ageDaysAtCreation !== null
        ? r.imagery.ageDaysAtCreation * 24
        : Math.max(0, ...sceneInputs.map((i) => i.ageHoursAtCreation ?? 0));
    lines.push({ key: 'imagery', text: t('reviewStaleImagery').replace('{age}', ageText(hours, lang)) });
  }
  const byName = new Map<string, number>();
  for (const i of stale)
    if (i.category !== 'imagery')
      byName.set(i.name, Math.max(byName.get(i.name) ?? 0, i.ageHoursAtCreation ?? 0));
  for (const [name, hours] of byName)
    lines.push({
      key: name,
      text: fill(t('reviewStaleInput'), { input: inputLabel(name, t), age: ageText(hours, lang) }),
    });
  return lines;
}

/** Each zone's rate change of an audit entry: "ゾーン1 5.1→3.91 kg/10a（入力 4.0）". */
function zoneChanges(a: AuditEntry, r: ReviewDetail, lang: Lang, t: (k: string) => string): string[] {
  return a.changes.flatMap((c) => {
    const at = zoneRateOfPath(c.path);
    if (at?.rate !== 'kgNHa' || typeof c.from !== 'number' || typeof c.to !== 'number') return [];
    const id = at.zone;
    const zone = r.zones.find((z) => z.id === id)?.zone ?? id;
    const line = t('reviewAuditZone')
      .replace('{zone}', () => String(zone))
      .replace('{from}', () => rateNumber(c.from as number, lang))
      .replace('{to}', () => `${rateNumber(c.to as number, lang)} ${rateUnitOf(lang)}`);
    const typed =
      c.requested !== undefined && Math.abs(c.requested - c.to) > 1e-9
        ? t('reviewAuditTyped').replace('{value}', () => rateNumber(c.requested!, lang))
        : '';
    return [line + typed];
  });
}

/** What the server did with each typed rate, where it is not what was typed (EditResult.zones). */
function EditReport({ zones, r }: { zones: EditResult['zones']; r: ReviewDetail }) {
  const { t, lang } = useI18n();
  const moved = zones.filter((z) => Math.abs(z.requestedKgNHa - z.kgNHa) > 1e-9);
  if (!moved.length) return null;
  return (
    <ul class="edit-report" data-testid="edit-report">
      {moved.map((z) => {
        const zone = String(r.zones.find((x) => x.id === z.zone)?.zone ?? z.zone);
        const limit =
          z.clamped && r.limits
            ? limitText(z.clamped === 'max' ? r.limits.maxKgNHa : r.limits.minKgNHa, lang)
            : '';
        const template =
          z.clamped === 'max'
            ? t('reviewEditMax')
            : z.clamped === 'min'
              ? t('reviewEditMin')
              : t('reviewEditStep');
        return (
          <li key={z.zone}>
            {template
              .replace('{zone}', () => zone)
              .replace('{from}', () => rateNumber(z.requestedKgNHa, lang))
              .replace('{to}', () => `${rateNumber(z.kgNHa, lang)} ${rateUnitOf(lang)}`)
              .replace('{limit}', () => limit)}
          </li>
        );
      })}
    </ul>
  );
}

/** What changed the recommendation while the officer had it open (a live update, or a refused action). */
interface ChangeNoticeState {
  /** An action of the officer's was refused (409) because of it. */
  conflict: boolean;
  /** The audit entries the officer had not seen. */
  entries: AuditEntry[];
}

function ChangeNotice({
  notice,
  r,
  typed,
  onClose,
}: {
  notice: ChangeNoticeState;
  r: ReviewDetail;
  typed: boolean;
  onClose: () => void;
}) {
  const { t, lang } = useI18n();
  const who = (a: AuditEntry) => <span translate={false}>{a.actor}</span>;
  const lines = notice.entries.flatMap((a) => {
    const time = fmtTime(a.at, lang);
    const template =
      a.action === 'superseded'
        ? t('reviewChangedSuperseded')
        : a.action === 'approved'
          ? t('reviewChangedApproved')
          : a.action === 'auto_approved'
            ? t('reviewChangedAutoApproved')
            : a.action === 'rejected'
              ? t('reviewChangedRejected')
              : a.action === 'edited'
                ? t('reviewChangedEdited')
                : '';
    return template ? [<li key={a.seq}>{fill(template, { actor: who(a), time })}</li>] : [];
  });
  const decided = r.status === 'approved' || r.status === 'rejected' || r.status === 'superseded';
  return (
    <div class="notice" role="alert" data-testid="review-changed">
      <p>
        <strong>{notice.conflict ? t('reviewConflict') : t('reviewChangedTitle')}</strong>
      </p>
      {lines.length ? <ul>{lines}</ul> : null}
      {r.supersededBy ? (
        <p>
          <a href={href('review', r.supersededBy)} data-testid="review-newer">
            {t('reviewOpenNewer')}
          </a>
        </p>
      ) : null}
      {typed ? <p>{decided ? t('reviewTypedNotSaved') : t('reviewTypedKept')}</p> : null}
      <button type="button" class="link" onClick={onClose}>
        {t('reviewNoticeClose')}
      </button>
    </div>
  );
}

export function ReviewPage({ id }: { id: string }) {
  // Another recommendation (the newer one a superseded one links to) starts afresh: rates typed for
  // one recommendation's zones are never carried over to another's.
  return <ReviewOf key={id} id={id} />;
}

function ReviewOf({ id }: { id: string }) {
  const { t, lang } = useI18n();
  const d = useLoad(() => reviewApi.review(id), id);
  const [edits, setEdits] = useState<Record<string, string>>({});
  /** The boxes whose text the browser could not read as a number (their value is then empty). */
  const [unreadable, setUnreadable] = useState<Record<string, boolean>>({});
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');
  /** After a decision: the next recommendation of the queue and how many wait (null: none). */
  const [next, setNext] = useState<{ id: string; left: number } | null | undefined>(undefined);
  const nextRef = useRef<HTMLElement>(null);
  // The decided page's buttons are disabled: the keyboard's focus goes on to the next one.
  useEffect(() => {
    if (next !== undefined) nextRef.current?.focus();
  }, [next]);
  const [report, setReport] = useState<EditResult['zones'] | null>(null);
  const [notice, setNotice] = useState<ChangeNoticeState | null>(null);
  const [confirmStale, setConfirmStale] = useState(false);
  const approveButton = useRef<HTMLButtonElement>(null);
  const keepButton = useRef<HTMLButtonElement>(null);
  /** The recommendation as the officer last saw it (what a live change is measured against). */
  const shown = useRef<ReviewDetail | undefined>(undefined);
  /** An action is under way: a live change waits for it, so the page never mistakes the officer's own step for someone else's. */
  const acting = useRef(false);
  const refreshAfter = useRef(false);
  const r: ReviewDetail | undefined = d.data;
  if (r && (!shown.current || r.revision >= shown.current.revision)) shown.current = r;

  /** Shows the recommendation as the server has it now; says what changed when it was not the officer. */
  const show = (fresh: ReviewDetail, why: 'own' | 'live' | 'conflict') => {
    const before = shown.current;
    if (before && fresh.revision < before.revision) return; // an answer older than what is shown
    // Another recommendation of the farm changed, not this one: nothing to draw again.
    const same =
      before &&
      fresh.revision === before.revision &&
      JSON.stringify(fresh.autoApproval) === JSON.stringify(before.autoApproval);
    if (why === 'live' && same) return;
    shown.current = fresh;
    d.set(fresh);
    if (why === 'own' || !before) return;
    if (why === 'conflict' || fresh.revision > before.revision) {
      const seen = Math.max(0, ...before.audit.map((a) => a.seq));
      setNotice({ conflict: why === 'conflict', entries: fresh.audit.filter((a) => a.seq > seen) });
      setConfirmStale(false);
    }
  };
  // Reloads the status and the audit, never what the officer typed (edits and reason are their own state).
  const refresh = async (why: 'live' | 'conflict') => {
    if (acting.current && why === 'live') {
      refreshAfter.current = true;
      return;
    }
    try {
      const fresh = await reviewApi.review(id);
      // Read before the officer's own step and answered during it: the step's answer decides.
      if (why === 'live' && acting.current) {
        refreshAfter.current = true;
        return;
      }
      show(fresh, why);
    } catch (e) {
      if (why === 'conflict') setError(e);
      // A live reload that failed (no signal) is tried again with the next change or reconnect.
    }
  };
  useLiveChanges(r?.farm.id ?? null, ['review'], () => void refresh('live'));
  // Rates are typed in the reader's unit: another language converts what was typed, never drops it.
  const typedIn = useRef(lang);
  useEffect(() => {
    const factor = perUnit(typedIn.current) / perUnit(lang);
    typedIn.current = lang;
    if (factor === 1) return;
    setEdits((e) =>
      Object.fromEntries(
        Object.entries(e).map(([k, v]) => [
          k,
          v.trim() === '' || !Number.isFinite(Number(v))
            ? v
            : String(Math.round(Number(v) * factor * 1e4) / 1e4),
        ]),
      ),
    );
  }, [lang]);

  // Each zone at the rate the spreader applies there: the officer's edit when there is one.
  const zones = useMemo<PrescriptionZone[]>(() => {
    if (!r) return [];
    return r.recommendation.zones.map((z) => {
      const a = r.zones.find((x) => x.id === z.id);
      const kg = a?.applied.kgNHa ?? z.edited?.kgNHa ?? z.rate.kgNHa;
      return {
        id: z.id,
        zone: z.zone,
        geometry: z.geometry as GeoJSON.Geometry,
        kgNHa: kg,
        label: zoneRateLabel(t('zoneN').replace('{n}', String(z.zone)), kg, lang),
      };
    });
  }, [r, lang, t]);
  const coverage = r?.recommendation.coverage ?? null;
  // The field's boundary as the farm's manifest draws it: the heatmap's outline, and the
  // prescription map's when the recommendation carries none of its own.
  const farmFields = useLoad(
    () => (r ? api<FarmFields>(`/api/v1/farms/${enc(r.farm.id)}/fields`) : Promise.resolve(undefined)),
    r?.farm.id ?? '-',
  );
  const boundary =
    (farmFields.data?.fields.find((f) => f.id === r?.field.id)?.boundary as GeoJSON.Geometry | undefined) ??
    null;
  const fieldName = r ? (r.field.name ?? r.field.id) : '';
  const rxField = useMemo(() => {
    const geometry = (coverage?.field as GeoJSON.Geometry | undefined) ?? boundary;
    return geometry ? { geometry, label: fieldName } : null;
  }, [coverage?.field, boundary, fieldName]);
  const defaultKgNHa = r ? meanRate(r.zones).kgNHa : 0;
  const uncovered = useMemo(
    () =>
      coverage?.uncovered && coverage.uncoveredAreaHa > 0
        ? { geometry: coverage.uncovered as GeoJSON.Geometry, kgNHa: defaultKgNHa }
        : null,
    [coverage?.uncovered, coverage?.uncoveredAreaHa, defaultKgNHa],
  );
  const rxRate = useCallback((kgHa: number) => rateNumber(kgHa, lang), [lang]);
  // The same zones as outlines over the scene's heatmap, each with its own reading of the index.
  const outlines = useMemo<MapPolygon[]>(() => {
    if (!r) return [];
    const index = r.imagery.index;
    return zones.map((z) => {
      const read = r.inputs.find(
        (i) => i.name === index && i.zones !== 'all' && i.zones.includes(z.id) && typeof i.value === 'number',
      );
      const value =
        read && index ? ` · ${index.toUpperCase()} ${fmtNumber(read.value as number, lang, 2)}` : '';
      return { id: z.id, geometry: z.geometry, label: `${z.label}${value}` };
    });
  }, [r, zones, lang]);
  const decided = !!r && (r.status === 'approved' || r.status === 'rejected' || r.status === 'superseded');
  // Each zone's box read as the API would: a rate (kg N/ha), nothing, or a problem said beside it.
  // A box the browser could not read ("1e") is never taken for an empty one.
  const typed = (r?.zones ?? []).map((z) => ({
    zone: z.id,
    read: typedRate(edits[z.id] ?? '', perUnit(lang), unreadable[z.id] ?? false),
  }));
  /** The rates typed in, kg N/ha, for the zones with a number in their box. */
  const pending = typed.flatMap(({ zone, read }) =>
    read && 'kgNHa' in read ? [{ zone, kgNHa: read.kgNHa }] : [],
  );
  const rateProblems = new Map(
    typed.flatMap(({ zone, read }) => (read && 'problem' in read ? [[zone, read.problem] as const] : [])),
  );
  const rateError = (zone: string): string | undefined => {
    const problem = rateProblems.get(zone);
    if (!problem) return undefined;
    if (problem === 'number') return t('errNumber');
    return rangeError(
      t,
      fmtNumber(EDIT_KG_HA.min / perUnit(lang), lang),
      fmtNumber(EDIT_KG_HA.max / perUnit(lang), lang),
      rateUnitOf(lang),
    );
  };
  // The reason as the API takes it (a pasted tab is a space). An approval's note, when there is
  // one, is held to the same 3 characters as a reason: "OK" would be refused.
  const reasonIs = reasonState(reason);
  const reasonShort = reasonIs !== 'ok';
  const noteShort = reasonIs === 'short';
  const stale = r ? staleLines(r, lang, t) : [];

  const act = async (what: 'edit' | 'approve' | 'reject') => {
    if (!r || acting.current) return;
    // What the server would refuse is not sent (the buttons say so too).
    if (what !== 'reject' && rateProblems.size) return;
    if (what === 'approve' && noteShort) return;
    const why = reasonText(reason);
    acting.current = true;
    setBusy(true);
    setError(null);
    setDone('');
    setNext(undefined);
    setNotice(null);
    setReport(null);
    setConfirmStale(false);
    let current = r;
    try {
      let saved = false;
      // Rates typed in are saved first, with the reason: approving never drops them.
      if (what === 'edit' || (what === 'approve' && pending.length)) {
        try {
          const out = await reviewApi.edit(id, {
            zones: pending,
            reason: why,
            revision: current.revision,
          });
          show(out.review, 'own');
          current = out.review;
          setReport(out.zones);
          setDone(t('editSaved'));
          saved = true;
        } catch (e) {
          // Typed rates that are the ones already applied are no edit (the server says so): approve
          // as it is, or, for 修正を保存, say that nothing changed rather than show a refusal.
          const unchanged =
            e instanceof ApiError && e.code === 'HATAKE_E_PAYLOAD_SCHEMA' && e.pointer === '/zones';
          if (!unchanged) throw e;
          if (what === 'edit') setDone(t('reviewEditUnchanged'));
        }
        setEdits({});
        setUnreadable({});
      }
      if (what === 'approve') {
        show(await reviewApi.approve(id, current.revision, why), 'own');
        setDone(saved ? t('reviewEditSavedApproved') : t('approvedDone'));
      } else if (what === 'reject') {
        show(await reviewApi.reject(id, why, current.revision), 'own');
        setDone(t('rejectedDone'));
      }
      // Decided: on to the next one of the queue (its order), without going back to it.
      if (what !== 'edit') {
        const waiting = (await reviewApi.queue().catch(() => undefined))?.filter((x) => x.id !== id);
        if (waiting) setNext(waiting.length ? { id: waiting[0]!.id, left: waiting.length } : null);
      }
    } catch (e) {
      if (e instanceof ApiError && e.code === 'HATAKE_E_STATE_CONFLICT') await refresh('conflict');
      else setError(e);
    } finally {
      acting.current = false;
      setBusy(false);
      if (refreshAfter.current) {
        refreshAfter.current = false;
        void refresh('live');
      }
    }
  };
  const approve = () => {
    if (!stale.length) return void act('approve');
    // Stale inputs: the officer confirms first; the safe choice takes the focus.
    setConfirmStale(true);
    setTimeout(() => keepButton.current?.focus(), 0);
  };
  const cancelStale = () => {
    setConfirmStale(false);
    setTimeout(() => approveButton.current?.focus(), 0);
  };

  const rateUnit = rateUnitOf(lang);
  const stepN = r?.limits ? r.limits.stepKgProductHa * r.limits.nFraction : null;
  // The rate boxes step by what the spreader can apply (typed values in between are rounded to it).
  const inputStep = stepN
    ? String(Math.round((stepN / perUnit(lang)) * 1e4) / 1e4)
    : lang === 'ja'
      ? '0.1'
      : '1';
  const econ = r?.recommendation.economics;
  const optimum = econ && econ.basis !== 'none' ? econ.economicOptimum : null;
  // The field's N and product as the farmer's page counts them (fieldSpread): the zones and the part
  // of the field no zone covers, at the rates recommended, applied and at the economic optimum.
  const spread = useMemo(
    () =>
      r
        ? {
            recommended: fieldSpread(r.recommendation, 'recommended'),
            applied: fieldSpread(r.recommendation, 'applied'),
            optimum: optimum ? fieldSpread(r.recommendation, 'optimum') : null,
          }
        : null,
    [r, optimum],
  );
  const notes = useMemo(() => {
    if (!r) return [];
    const out = r.recommendation.notes.map((n) => ({ key: n.code, text: n.text[lang] }));
    // A note several zones share is one line naming them.
    const byText = new Map<string, number[]>();
    for (const z of r.recommendation.zones)
      for (const n of z.notes) byText.set(n.text[lang], [...(byText.get(n.text[lang]) ?? []), z.zone]);
    for (const [text, zs] of byText)
      out.push({
        key: `zones/${text}`,
        text: t('reviewNoteZone')
          .replace('{zone}', () => zs.join(', '))
          .replace('{text}', () => text),
      });
    return out;
  }, [r, lang, t]);
  return (
    <main id="main" tabIndex={-1}>
      <p>
        <a href={href('review')}>← {t('reviewQueue')}</a>
      </p>
      <h1>{r ? `${r.farm.name} · ${r.field.name ?? r.field.id}` : t('recommendation')}</h1>
      <ErrorBox error={d.error} />
      {d.firstLoading ? <Loading /> : null}
      {r ? (
        <>
          <p>
            <span class="badge" data-testid="review-status">
              {t(`status_${r.status}`)}
            </span>{' '}
            <span class="muted">
              {t('created')} {fmtTime(r.recommendation.createdAt, lang)} ·{' '}
              <span translate={false}>{r.model.ref}</span>
            </span>
          </p>
          {r.supersededBy ? (
            <p class="warn" data-testid="review-superseded">
              {t('reviewSupersededBy')} <a href={href('review', r.supersededBy)}>{t('reviewOpenNewer')}</a>
            </p>
          ) : null}
          <Section title={t('prescriptionMap')} id="rmap-h">
            <PrescriptionMap
              zones={zones}
              field={rxField}
              uncovered={uncovered}
              rate={rxRate}
              unit={rateUnit}
              label={t('prescriptionMap')}
            />
          </Section>
          <Section title={t('zoneRates')} id="rates-h">
            <form
              noValidate
              onSubmit={(e) => {
                e.preventDefault();
                void act('edit');
              }}
            >
              {coverage ? <CoverageNote r={r} coverage={coverage} /> : null}
              {/* Fits a 360 px phone (the area under the zone, the unit in the heading); with larger
                  text it scrolls in its box, which takes the focus so a keyboard can scroll it. */}
              <div class="scroll" tabIndex={0} role="region" aria-labelledby="rates-h">
                <table class="table rates">
                  <thead>
                    <tr>
                      <th scope="col" class="nowrap">
                        {t('zone')}
                        <span class="sub">{t('area')}</span>
                      </th>
                      <th scope="col">{t('recommended')}</th>
                      <th scope="col">{t('applied')}</th>
                      <th scope="col">
                        {t('newRate')}
                        <span class="sub rate-unit" translate={false}>
                          {rateUnit}
                        </span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.zones.map((z, k) => (
                      <tr key={z.id}>
                        <th scope="row">
                          {z.zone}
                          <span class="sub nowrap">
                            {fmtNumber(z.areaHa, lang, 2)} <span translate={false}>ha</span>
                          </span>
                        </th>
                        <td>
                          <Rate kgHa={z.recommended.kgNHa} />
                          {z.clamped ? <span class="muted"> ({t(`clamped_${z.clamped}`)})</span> : null}
                        </td>
                        <td data-testid={`applied-${z.id}`}>
                          <Rate kgHa={z.applied.kgNHa} />
                          {z.edited ? (
                            <span class="edited nowrap" title={z.edited.reason}>
                              {' '}
                              {t('edited')}
                            </span>
                          ) : null}
                        </td>
                        <td>
                          <label>
                            <span class="sr-only">
                              {t('newRate')} {t('zone')} {z.zone} ({rateUnit})
                            </span>
                            <input
                              type="number"
                              inputMode="decimal"
                              min={0}
                              step={inputStep}
                              disabled={decided}
                              data-testid={`edit-${z.id}`}
                              value={edits[z.id] ?? ''}
                              aria-invalid={!decided && rateProblems.has(z.id) ? true : undefined}
                              aria-describedby={
                                !decided && rateProblems.has(z.id) ? `rate-err-${k}` : undefined
                              }
                              onInput={(e) => {
                                const box = e.target as HTMLInputElement;
                                setEdits({ ...edits, [z.id]: box.value });
                                setUnreadable({ ...unreadable, [z.id]: box.validity.badInput });
                                setConfirmStale(false);
                              }}
                            />
                          </label>
                          {decided ? null : <FieldError id={`rate-err-${k}`} message={rateError(z.id)} />}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {r.limits ? (
                <p class="muted" data-testid="review-limits">
                  {t('limits')} <Rate kgHa={r.limits.minKgNHa} /> – <Rate kgHa={r.limits.maxKgNHa} />
                  {stepN ? (
                    <span class="sub" data-testid="spreader-step">
                      {fill(t('reviewSpreaderStep'), {
                        product: r.recommendation.product.name[lang],
                        step: <Rate kgHa={r.limits.stepKgProductHa} />,
                        n: <Rate kgHa={stepN} />,
                      })}
                    </span>
                  ) : null}
                </p>
              ) : null}
              <label>
                {t('reason')}
                <textarea
                  name="reason"
                  rows={2}
                  maxLength={1000}
                  value={reason}
                  disabled={decided}
                  aria-describedby={!decided && reasonShort ? 'reason-hint' : undefined}
                  onInput={(e) => {
                    setReason((e.target as HTMLTextAreaElement).value);
                    setConfirmStale(false);
                  }}
                />
              </label>
              {!decided && reasonShort ? (
                <p class={noteShort ? 'warn hint' : 'muted hint'} id="reason-hint" data-testid="reason-hint">
                  {noteShort ? t('reviewReasonShortHint') : t('reviewReasonHint')}
                </p>
              ) : null}
              {stale.length ? (
                <div class="notice" data-testid="stale-banner">
                  <p>
                    <strong>{t('reviewStaleTitle')}</strong>
                  </p>
                  <ul>
                    {stale.map((l) => (
                      <li key={l.key}>{l.text}</li>
                    ))}
                  </ul>
                </div>
              ) : null}
              {notice ? (
                <ChangeNotice
                  notice={notice}
                  r={r}
                  typed={pending.length > 0}
                  onClose={() => setNotice(null)}
                />
              ) : null}
              {!decided && rateProblems.size ? (
                <p class="warn" id="approve-hint" data-testid="approve-hint">
                  {t('reviewRatesToFix')}
                </p>
              ) : !decided && pending.length ? (
                <p class={reasonShort ? 'warn' : 'muted'} id="approve-hint" data-testid="approve-hint">
                  {reasonShort ? t('reviewApproveNeedsReason') : t('reviewApproveSavesEdits')}
                </p>
              ) : null}
              <div class="actions">
                <button
                  type="submit"
                  disabled={busy || decided || !pending.length || reasonShort || rateProblems.size > 0}
                >
                  {t('saveEdit')}
                </button>
                <button
                  type="button"
                  class="primary"
                  ref={approveButton}
                  aria-describedby={
                    decided
                      ? undefined
                      : pending.length || rateProblems.size
                        ? 'approve-hint'
                        : noteShort
                          ? 'reason-hint'
                          : undefined
                  }
                  disabled={
                    busy ||
                    decided ||
                    confirmStale ||
                    noteShort ||
                    rateProblems.size > 0 ||
                    (pending.length > 0 && reasonShort)
                  }
                  onClick={approve}
                >
                  {t('approve')}
                </button>
                <button
                  type="button"
                  class="danger"
                  disabled={busy || decided || reasonShort}
                  onClick={() => void act('reject')}
                >
                  {t('reject')}
                </button>
              </div>
              {confirmStale && !decided ? (
                <div class="confirm" role="group" aria-labelledby="stale-q" data-testid="stale-confirm">
                  <p id="stale-q" class="warn">
                    {t('reviewStaleConfirm')}
                  </p>
                  <div class="actions">
                    <button type="button" class="primary" disabled={busy} onClick={() => void act('approve')}>
                      {t('reviewStaleApproveYes')}
                    </button>
                    <button type="button" ref={keepButton} onClick={cancelStale}>
                      {t('cancel')}
                    </button>
                  </div>
                </div>
              ) : null}
              <div role="status" data-testid="review-done">
                {done ? <p class="ok">{done}</p> : null}
                {next ? (
                  <p>
                    <a
                      href={href('review', next.id)}
                      ref={nextRef as Ref<HTMLAnchorElement>}
                      data-testid="review-next"
                    >
                      {t('reviewNext').replace('{n}', () => String(next.left))}
                    </a>
                  </p>
                ) : next === null ? (
                  <p tabIndex={-1} ref={nextRef as Ref<HTMLParagraphElement>} data-testid="review-next">
                    {t('reviewQueueDone')}
                  </p>
                ) : null}
                {report ? <EditReport zones={report} r={r} /> : null}
              </div>
              <ErrorBox error={error} />
            </form>
          </Section>
          <Section title={t('inputs')} id="inputs-h">
            {/* Wider than a phone: the box scrolls, and takes the focus so a keyboard can scroll it. */}
            <div class="scroll" tabIndex={0} role="region" aria-labelledby="inputs-h">
              <table class="table inputs">
                <thead>
                  <tr>
                    <th scope="col">{t('input')}</th>
                    <th scope="col">{t('zone')}</th>
                    <th scope="col">{t('value')}</th>
                    <th scope="col">{t('source')}</th>
                    <th scope="col">{t('observed')}</th>
                  </tr>
                </thead>
                <tbody>
                  {r.inputs.map((i) => (
                    <tr
                      key={`${i.name}/${i.source}/${i.time ?? ''}/${i.zones === 'all' ? '' : i.zones.join(',')}`}
                      class={i.stale ? 'stale-row' : ''}
                      data-input={i.name}
                    >
                      <th scope="row">
                        <InputName name={i.name} />
                      </th>
                      <td class="nowrap" data-testid="input-zones">
                        {i.zones === 'all' ? t('wholeField') : zoneNumbers(i.zones, r.zones)}
                      </td>
                      <td class="nowrap" data-testid="input-value">
                        <InputValueView i={i} r={r} />
                      </td>
                      <td data-testid="input-source">
                        {t(`inputCategory_${i.category}`)}
                        <SourceText source={i.source} />
                      </td>
                      <td>
                        <InputAge i={i} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Section>
          <Section title={t('imagery')} id="img-h">
            <p>
              {r.imagery.sceneId ? <span translate={false}>{r.imagery.sceneId}</span> : t('noImagery')}
              {r.imagery.acquired ? ` · ${fmtDate(r.imagery.acquired, lang)}` : ''}
              {r.imagery.index ? <span translate={false}> · {r.imagery.index.toUpperCase()}</span> : null}
              {r.imagery.stale ? <span class="stale"> · {t('stale')}</span> : null}
            </p>
            <ReviewImagery r={r} zones={outlines} boundary={boundary} />
            <p>
              <a href={href('farm', r.farm.id, 'field', r.field.id)}>{t('openFieldMap')}</a>
            </p>
          </Section>
          <Section title={t('modelCard')} id="model-h">
            <p>
              <span translate={false}>{r.model.ref}</span> · {t(`card_${r.model.cardStatus}`)}
            </p>
            {r.model.card ? <ModelCardView card={r.model.card} /> : null}
          </Section>
          <Section title={t('economics')} id="econ-h">
            {/* Wider than a phone with the optimum beside: the box scrolls and takes the focus. */}
            <div class="scroll" tabIndex={0} role="region" aria-labelledby="econ-h">
              <table class="table econ" data-testid="economics">
                <thead>
                  <tr>
                    <th scope="col" />
                    <th scope="col">{t('recommended')}</th>
                    <th scope="col">{t('applied')}</th>
                    {optimum ? <th scope="col">{t('reviewOptimum')}</th> : null}
                  </tr>
                </thead>
                <tbody>
                  {/* What the prescription spreads over the whole field, as the farmer's page says it. */}
                  {spread ? (
                    <>
                      <tr data-testid="econ-total-n">
                        <th scope="row">{t('totalN')}</th>
                        <td>{fmtNumber(spread.recommended.nKg, lang, 1)} kg</td>
                        <td>{fmtNumber(spread.applied.nKg, lang, 1)} kg</td>
                        {spread.optimum ? <td>{fmtNumber(spread.optimum.nKg, lang, 1)} kg</td> : null}
                      </tr>
                      <tr data-testid="econ-total-product">
                        <th scope="row">{t('totalProduct')}</th>
                        <td>{fmtNumber(spread.recommended.productKg, lang, 0)} kg</td>
                        <td>{fmtNumber(spread.applied.productKg, lang, 0)} kg</td>
                        {spread.optimum ? <td>{fmtNumber(spread.optimum.productKg, lang, 0)} kg</td> : null}
                      </tr>
                    </>
                  ) : null}
                  <tr>
                    <th scope="row">{t('cost')}</th>
                    <td>{fmtYen(r.economics.recommended.costYen, lang)}</td>
                    <td>{fmtYen(r.economics.applied.costYen, lang)}</td>
                    {optimum ? <td>{fmtYen(optimum.costYen, lang)}</td> : null}
                  </tr>
                  <tr>
                    <th scope="row">{t('gain')}</th>
                    <td>{fmtYen(r.economics.recommended.gainYen, lang)}</td>
                    <td>{fmtYen(r.economics.applied.gainYen, lang)}</td>
                    {optimum ? <td>{fmtYen(optimum.gainYen, lang)}</td> : null}
                  </tr>
                  <tr>
                    <th scope="row">{t('margin')}</th>
                    <td>{fmtYen(r.economics.recommended.marginYen, lang)}</td>
                    <td>{fmtYen(r.economics.applied.marginYen, lang)}</td>
                    {optimum ? <td>{fmtYen(optimum.marginYen, lang)}</td> : null}
                  </tr>
                </tbody>
              </table>
            </div>
            {spread && spread.applied.restHa > 0 ? (
              <p class="muted" data-testid="econ-whole-field">
                {fill(t('reviewEconWholeField'), {
                  area: <span translate={false}>{areaText(spread.applied.areaHa, lang)}</span>,
                  rest: <span translate={false}>{areaText(spread.applied.restHa, lang)}</span>,
                })}
              </p>
            ) : null}
            {optimum ? (
              <div class="scroll" tabIndex={0} role="region" aria-labelledby="optimum-h">
                <table class="table optimum" data-testid="optimum-by-zone">
                  <caption id="optimum-h">{t('reviewOptimumByZone')}</caption>
                  <thead>
                    <tr>
                      <th scope="col" class="nowrap">
                        {t('zone')}
                      </th>
                      <th scope="col">{t('recommended')}</th>
                      <th scope="col">{t('reviewOptimum')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.recommendation.zones.map((z) => (
                      <tr key={z.id}>
                        <th scope="row">{z.zone}</th>
                        <td>
                          <Rate kgHa={z.rate.kgNHa} />
                        </td>
                        <td>
                          <Rate kgHa={z.economicOptimum.kgNHa} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : null}
            {notes.length ? (
              <>
                <h3>{t('reviewNotes')}</h3>
                <ul class="notes" data-testid="review-notes">
                  {notes.map((n) => (
                    <li key={n.key}>
                      <NoteText code={n.key} text={n.text} />
                    </li>
                  ))}
                </ul>
              </>
            ) : null}
          </Section>
          <AutoApproval farm={r.farm.id} models={[r.model.ref]} onChange={() => void refresh('live')} />
          <Section title={t('auditLog')} id="audit-h">
            <ol class="log" data-testid="audit-log">
              {r.audit.map((a) => {
                const changes = zoneChanges(a, r, lang, t);
                return (
                  <li key={a.seq}>
                    <time dateTime={a.at}>{fmtTime(a.at, lang)}</time>{' '}
                    <span translate={false}>{a.actor}</span> · {t(`audit_${a.action}`)}
                    {/* What the person typed, as typed; the server's own notes (system, gateway) are English. */}
                    {a.reason ? (
                      <span class="muted">
                        {' — '}
                        <span
                          translate={false}
                          lang={a.role === 'system' || a.role === 'gateway' ? 'en' : undefined}
                        >
                          {a.reason}
                        </span>
                      </span>
                    ) : null}
                    {changes.length ? (
                      <ul class="changes">
                        {changes.map((c) => (
                          <li key={c}>{c}</li>
                        ))}
                      </ul>
                    ) : null}
                  </li>
                );
              })}
            </ol>
          </Section>
        </>
      ) : null}
    </main>
  );
}

export function RegionPage() {
  const { t, lang } = useI18n();
  // The server counts each farm's pending reviews (all of them: the queue's answer is a page); a
  // review arriving or decided reloads the overview, and a failed load is said, never a 0.
  const o = useLoad(() => api<RegionOverview>('/api/v1/overview'), 'overview');
  useLiveChanges(null, ['review'], o.reload);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  // Dates as the date inputs give them (YYYY-MM-DD) compare as text. A start after the end would
  // download a CSV with nothing but its header: said, and nothing to download.
  const inverted = from !== '' && to !== '' && from > to;
  // The days in Japan's time, the end day whole: the API's `to` is exclusive, so it is the next
  // day's start (23:59:59 would leave out a decision in the day's last second).
  const csv = reviewApi.decisionsCsvUrl(
    from ? new Date(`${from}T00:00:00+09:00`).toISOString() : undefined,
    to ? new Date(Date.parse(`${to}T00:00:00+09:00`) + 86_400_000).toISOString() : undefined,
  );
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('regionOverview')}</h1>
      <ErrorBox error={o.error} />
      {o.firstLoading ? <Loading /> : null}
      {o.data ? (
        <>
          <Section title={t('farms')} id="farms-h">
            {/* Fits a phone with no value broken mid-word ("0 / ↵3", "デー↵タなし"); with larger text the
                box scrolls, and takes the focus so a keyboard can scroll it. */}
            <div class="scroll" tabIndex={0} role="region" aria-labelledby="farms-h">
              <table class="table fit">
                <thead>
                  <tr>
                    <th scope="col">{t('farm')}</th>
                    <th scope="col">{t('lastData')}</th>
                    <th scope="col">{t('silentDevices')}</th>
                    <th scope="col">{t('pendingReviews')}</th>
                  </tr>
                </thead>
                <tbody>
                  {o.data.farms.map((f) => (
                    <tr key={f.id} class={f.stale ? 'stale-row' : ''} data-testid={`farm-${f.id}`}>
                      <th scope="row">
                        <a href={href('farm', f.id)}>{f.name}</a>{' '}
                        {f.stale ? <span class="badge warn">{t('staleData')}</span> : null}
                      </th>
                      <td>
                        <Freshness time={f.lastData} staleMs={3_600_000} />
                      </td>
                      <td translate={false}>
                        {f.silentDevices} / {f.devices}
                      </td>
                      <td data-testid={`pending-${f.id}`}>{fmtNumber(f.pendingReviews, lang, 0)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Section>
          <Section title={t('fieldsByNdvi')} id="ndvi-h">
            <div class="scroll" tabIndex={0} role="region" aria-labelledby="ndvi-h">
              <table class="table fit">
                <thead>
                  <tr>
                    <th scope="col">{t('field')}</th>
                    <th scope="col" translate={false}>
                      NDVI
                    </th>
                    <th scope="col">{t('acquired')}</th>
                  </tr>
                </thead>
                <tbody>
                  {o.data.fields.map((f) => (
                    <tr key={`${f.farm}/${f.field}`}>
                      <th scope="row">
                        <a href={href('farm', f.farm, 'field', f.field)}>{f.name}</a>{' '}
                        <span class="muted">{f.farmName}</span>
                      </th>
                      <td>{fmtNumber(f.ndvi, lang, 2)}</td>
                      <td>{fmtDate(f.acquired, lang)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Section>
        </>
      ) : null}
      <Section title={t('exportDecisions')} id="csv-h">
        <div class="controls">
          <label>
            {t('from')}
            <input
              type="date"
              value={from}
              max={to || undefined}
              aria-invalid={inverted || undefined}
              aria-describedby={inverted ? 'csv-range-error' : undefined}
              onInput={(e) => setFrom((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            {t('to')}
            <input
              type="date"
              value={to}
              min={from || undefined}
              aria-invalid={inverted || undefined}
              aria-describedby={inverted ? 'csv-range-error' : undefined}
              onInput={(e) => setTo((e.target as HTMLInputElement).value)}
            />
          </label>
        </div>
        <div role="alert">
          <FieldError id="csv-range-error" message={inverted ? t('csvRangeInverted') : undefined} />
        </div>
        <p>
          {inverted ? (
            <button type="button" class="button" disabled data-testid="decisions-csv">
              {t('downloadCsv')}
            </button>
          ) : (
            <a class="button" href={csv} download data-testid="decisions-csv">
              {t('downloadCsv')}
            </a>
          )}
        </p>
      </Section>
    </main>
  );
}
