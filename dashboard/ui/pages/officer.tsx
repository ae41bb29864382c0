// The extension officer's pages: the review queue (oldest and largest first), the detail view of
// one recommendation (map of zones and rates, inputs with their freshness, the heatmap of the scene
// it was computed from under its zones, model card, economics) with approve / edit per-zone rates
// with a reason / reject, and the region overview with the CSV export of decisions.
import { useMemo, useState } from 'preact/hooks';
import type { FarmFields, FieldScene, RegionOverview } from '../../../protocol/views.ts';
import type { ReviewDetail } from '../../../protocol/review.ts';
import { api, ApiError } from '../api.ts';
import { useLiveChanges } from '../live.ts';
import { hasKey, useI18n } from '../i18n.ts';
import { href } from '../route.ts';
import { fmtDate, fmtNumber, fmtTime, fmtYen, inputUnit } from '../format.ts';
import { reviewApi } from '../review-api.ts';
import { ErrorBox, Freshness, Loading, Rate, Section, useLoad } from '../components/common.tsx';
import { FieldMap, type MapPolygon } from '../components/FieldMap.tsx';
import { HeatmapLegend, sceneLayer, useHeatmapOverlay } from '../components/Heatmap.tsx';
import { AutoApproval } from '../components/AutoApproval.tsx';

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
                <th scope="col">{t('received')}</th>
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
                  </td>
                  <td>
                    <Freshness time={r.createdAt} staleMs={Infinity} />
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

/** The numbers of the zones an input was read for, in zone order ("1, 3"); an unknown id as it is. */
function zoneNumbers(ids: string[], zones: ReviewDetail['zones']): string {
  return ids
    .map((id) => zones.find((z) => z.id === id)?.zone ?? id)
    .sort((a, b) =>
      typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b)),
    )
    .join(', ');
}

const rampColour = (x: number) => {
  const c = (a: number, b: number) => Math.round(a + (b - a) * x);
  return `rgb(${c(229, 0)}, ${c(245, 90)}, ${c(224, 50)})`;
};

const enc = encodeURIComponent;

/**
 * The heatmap of the scene the recommendation was computed from (not the field's latest), under
 * the recommendation's zones as outlines and the field's boundary, with the legend. The scene is
 * asked for by its id, however old; only a scene the server does not hold for the field (never
 * received) is said to be missing. A scene whose PNGs the server no longer keeps (it keeps a farm's
 * newest scenes' maps only) shows the zones and the index's mean without a heatmap.
 */
function ReviewImagery({ r, zones }: { r: ReviewDetail; zones: MapPolygon[] }) {
  const { t } = useI18n();
  const sceneId = r.imagery.sceneId;
  const loaded = useLoad(
    async () => {
      if (!sceneId) return undefined;
      const farm = enc(r.farm.id);
      const [fields, scene] = await Promise.all([
        api<FarmFields>(`/api/v1/farms/${farm}/fields`),
        api<FieldScene>(`/api/v1/farms/${farm}/fields/${enc(r.field.id)}/scenes/${enc(sceneId)}`).catch(
          (e: unknown) => {
            if (e instanceof ApiError && e.status === 404) return null;
            throw e;
          },
        ),
      ]);
      return { boundary: fields.fields.find((f) => f.id === r.field.id)?.boundary ?? null, scene };
    },
    `${r.farm.id}/${r.field.id}/${sceneId ?? '-'}`,
  );
  const scene = loaded.data?.scene ?? undefined;
  const layer = sceneLayer(scene, r.imagery.index);
  const overlay = useHeatmapOverlay(layer);
  const boundary = loaded.data?.boundary;
  const fields = useMemo<MapPolygon[]>(
    () =>
      boundary
        ? [{ id: r.field.id, geometry: boundary as GeoJSON.Geometry, label: r.field.name ?? r.field.id }]
        : [],
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

export function ReviewPage({ id }: { id: string }) {
  const { t, lang } = useI18n();
  const d = useLoad(() => reviewApi.review(id), id);
  const [edits, setEdits] = useState<Record<string, string>>({});
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');
  const r: ReviewDetail | undefined = d.data;
  const zones = useMemo<MapPolygon[]>(() => {
    if (!r) return [];
    const rates = r.zones.map((z) => z.applied.kgNHa);
    const lo = Math.min(...rates);
    const hi = Math.max(...rates);
    return r.recommendation.zones.map((z) => {
      const a = r.zones.find((x) => x.id === z.id);
      const kg = a?.applied.kgNHa ?? z.rate.kgNHa;
      return {
        id: z.id,
        geometry: z.geometry as GeoJSON.Geometry,
        fill: rampColour(hi > lo ? (kg - lo) / (hi - lo) : 0.5),
        label: `${t('zone')} ${z.zone}: ${fmtNumber(kg / 10, lang, 1)} kg/10a (${fmtNumber(kg, lang, 0)} kg/ha)`,
      };
    });
  }, [r, lang, t]);
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
  const decided = r && (r.status === 'approved' || r.status === 'rejected' || r.status === 'superseded');
  const run = async (what: 'edit' | 'approve' | 'reject') => {
    if (!r) return;
    setBusy(true);
    setError(null);
    try {
      if (what === 'edit') {
        const zonesBody = Object.entries(edits)
          .filter(([, v]) => v.trim() !== '')
          .map(([zone, v]) => ({ zone, kgNHa: lang === 'ja' ? Number(v) * 10 : Number(v) }));
        const out = await reviewApi.edit(id, { zones: zonesBody, reason, revision: r.revision });
        d.set(out.review);
        setEdits({});
        setDone(t('editSaved'));
      } else if (what === 'approve') {
        d.set(await reviewApi.approve(id, r.revision));
        setDone(t('approvedDone'));
      } else {
        d.set(await reviewApi.reject(id, reason, r.revision));
        setDone(t('rejectedDone'));
      }
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const rateUnit = lang === 'ja' ? 'kg/10a' : 'kg/ha';
  return (
    <main id="main" tabIndex={-1}>
      <p>
        <a href={href('review')}>← {t('reviewQueue')}</a>
      </p>
      <h1>{r ? `${r.farm.name} · ${r.field.name ?? r.field.id}` : t('recommendation')}</h1>
      <ErrorBox error={d.error} />
      {d.loading && !r ? <Loading /> : null}
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
          <Section title={t('prescriptionMap')} id="rmap-h">
            <FieldMap fields={[]} zones={zones} label={t('prescriptionMap')} />
          </Section>
          <Section title={t('zoneRates')} id="rates-h">
            <form
              onSubmit={(e) => {
                e.preventDefault();
                void run('edit');
              }}
            >
              <div class="scroll">
                <table class="table">
                  <thead>
                    <tr>
                      <th scope="col">{t('zone')}</th>
                      <th scope="col">{t('area')}</th>
                      <th scope="col">{t('recommended')}</th>
                      <th scope="col">{t('applied')}</th>
                      <th scope="col">{t('newRate')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.zones.map((z) => (
                      <tr key={z.id}>
                        <th scope="row">{z.zone}</th>
                        <td>
                          {fmtNumber(z.areaHa, lang, 2)} <span translate={false}>ha</span>
                        </td>
                        <td>
                          <Rate kgHa={z.recommended.kgNHa} />
                          {z.clamped ? <span class="muted"> ({t(`clamped_${z.clamped}`)})</span> : null}
                        </td>
                        <td>
                          <Rate kgHa={z.applied.kgNHa} />
                          {z.edited ? (
                            <span class="edited" title={z.edited.reason}>
                              {' '}
                              {t('edited')}
                            </span>
                          ) : null}
                        </td>
                        <td>
                          <label class="inline">
                            <span class="sr-only">
                              {t('newRate')} {t('zone')} {z.zone} ({rateUnit})
                            </span>
                            <input
                              type="number"
                              inputMode="decimal"
                              min={0}
                              step="0.1"
                              disabled={!!decided}
                              data-testid={`edit-${z.id}`}
                              value={edits[z.id] ?? ''}
                              onInput={(e) =>
                                setEdits({ ...edits, [z.id]: (e.target as HTMLInputElement).value })
                              }
                            />{' '}
                            <span translate={false}>{rateUnit}</span>
                          </label>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {r.limits ? (
                <p class="muted">
                  {t('limits')} <Rate kgHa={r.limits.minKgNHa} /> – <Rate kgHa={r.limits.maxKgNHa} />
                </p>
              ) : null}
              <label>
                {t('reason')}
                <textarea
                  name="reason"
                  rows={2}
                  maxLength={1000}
                  value={reason}
                  disabled={!!decided}
                  onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)}
                />
              </label>
              <div class="actions">
                <button
                  type="submit"
                  disabled={
                    busy ||
                    !!decided ||
                    !Object.values(edits).some((v) => v.trim()) ||
                    reason.trim().length < 3
                  }
                >
                  {t('saveEdit')}
                </button>
                <button
                  type="button"
                  class="primary"
                  disabled={busy || !!decided}
                  onClick={() => void run('approve')}
                >
                  {t('approve')}
                </button>
                <button
                  type="button"
                  class="danger"
                  disabled={busy || !!decided || reason.trim().length < 3}
                  onClick={() => void run('reject')}
                >
                  {t('reject')}
                </button>
              </div>
              <p role="status" class="ok">
                {done}
              </p>
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
                      <td class="nowrap" translate={false} data-testid="input-value">
                        {typeof i.value === 'number' ? fmtNumber(i.value, lang, 3) : i.value}
                        {inputUnit(i.unit, lang) ? ` ${inputUnit(i.unit, lang)}` : ''}
                      </td>
                      <td data-testid="input-source">
                        {t(`inputCategory_${i.category}`)}
                        <code class="sub" translate={false}>
                          {i.source}
                        </code>
                      </td>
                      <td class="nowrap">
                        {i.time ? (
                          <Freshness time={i.time} staleMs={(i.staleAfterHours ?? Infinity) * 3_600_000} />
                        ) : (
                          t('constant')
                        )}
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
            <ReviewImagery r={r} zones={outlines} />
            <p>
              <a href={href('farm', r.farm.id, 'field', r.field.id)}>{t('openFieldMap')}</a>
            </p>
          </Section>
          <Section title={t('modelCard')} id="model-h">
            <p>
              <span translate={false}>{r.model.ref}</span> · {t(`card_${r.model.cardStatus}`)}
            </p>
            {r.model.card ? (
              <dl class="dl">
                <dt>{t('method')}</dt>
                <dd translate={false}>{r.model.card.method.name}</dd>
                <dt>{t('source')}</dt>
                <dd translate={false}>{r.model.card.method.source}</dd>
                <dt>{t('fitted')}</dt>
                <dd translate={false}>
                  {r.model.card.fitted.where} ({r.model.card.fitted.status})
                </dd>
              </dl>
            ) : null}
          </Section>
          <Section title={t('economics')} id="econ-h">
            <div class="scroll">
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col" />
                    <th scope="col">{t('recommended')}</th>
                    <th scope="col">{t('applied')}</th>
                  </tr>
                </thead>
                <tbody>
                  <tr>
                    <th scope="row">{t('totalN')}</th>
                    <td>{fmtNumber(r.economics.recommended.nKg, lang, 1)} kg</td>
                    <td>{fmtNumber(r.economics.applied.nKg, lang, 1)} kg</td>
                  </tr>
                  <tr>
                    <th scope="row">{t('cost')}</th>
                    <td>{fmtYen(r.economics.recommended.costYen, lang)}</td>
                    <td>{fmtYen(r.economics.applied.costYen, lang)}</td>
                  </tr>
                  <tr>
                    <th scope="row">{t('gain')}</th>
                    <td>{fmtYen(r.economics.recommended.gainYen, lang)}</td>
                    <td>{fmtYen(r.economics.applied.gainYen, lang)}</td>
                  </tr>
                  <tr>
                    <th scope="row">{t('margin')}</th>
                    <td>{fmtYen(r.economics.recommended.marginYen, lang)}</td>
                    <td>{fmtYen(r.economics.applied.marginYen, lang)}</td>
                  </tr>
                </tbody>
              </table>
            </div>
          </Section>
          <AutoApproval farm={r.farm.id} models={[r.model.ref]} onChange={d.reload} />
          <Section title={t('auditLog')} id="audit-h">
            <ol class="log">
              {r.audit.map((a) => (
                <li key={a.seq}>
                  <time dateTime={a.at}>{fmtTime(a.at, lang)}</time> <span translate={false}>{a.actor}</span>{' '}
                  · {t(`audit_${a.action}`)}
                  {a.reason ? <span class="muted"> — {a.reason}</span> : null}
                </li>
              ))}
            </ol>
          </Section>
        </>
      ) : null}
    </main>
  );
}

export function RegionPage() {
  const { t, lang } = useI18n();
  const o = useLoad(() => api<RegionOverview>('/api/v1/overview'), 'overview');
  const q = useLoad(() => reviewApi.queue().catch(() => []), 'queue');
  useLiveChanges(null, ['review'], q.reload);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const pending = (farm: string) => (q.data ?? []).filter((x) => x.farm === farm).length;
  const csv = reviewApi.decisionsCsvUrl(
    from ? new Date(`${from}T00:00:00+09:00`).toISOString() : undefined,
    to ? new Date(`${to}T23:59:59+09:00`).toISOString() : undefined,
  );
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('regionOverview')}</h1>
      <ErrorBox error={o.error} />
      {o.loading ? <Loading /> : null}
      {o.data ? (
        <>
          <Section title={t('farms')} id="farms-h">
            <div class="scroll">
              <table class="table">
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
                        <a href={href('farm', f.id)}>{f.name}</a>
                        {f.stale ? <span class="badge warn"> {t('staleData')}</span> : null}
                      </th>
                      <td>
                        <Freshness time={f.lastData} staleMs={3_600_000} />
                      </td>
                      <td>
                        {f.silentDevices} / {f.devices}
                      </td>
                      <td>{pending(f.id)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Section>
          <Section title={t('fieldsByNdvi')} id="ndvi-h">
            <div class="scroll">
              <table class="table">
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
            <input type="date" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            {t('to')}
            <input type="date" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
          </label>
        </div>
        <p>
          <a class="button" href={csv} download data-testid="decisions-csv">
            {t('downloadCsv')}
          </a>
        </p>
      </Section>
    </main>
  );
}
