// A field on a map with no internet tiles needed: the field polygons (GeoJSON), the management
// zones coloured by rate or index, and the latest index heatmap as an image overlay at its WGS84
// bounds. A base layer (e.g. a co-op's own tile server or GSI tiles) is added only when one is
// set: in this browser (BaseLayerSetting on the field page), else for everyone in server.yaml
// (`map.baseLayer`, GET /api/v1/map). Also the prescription map: the zones coloured by the rate each gets, each
// named on the map, the field's outline, the part no zone covers hatched, and the legend beside.
// Zones are drawn cut to the fields' outline: a scene's zones are made of whole pixels, and a
// pixel whose centre is in the field reaches up to half a pixel past its boundary.
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useMemo, useRef, useState } from 'preact/hooks';
import L from 'leaflet';
import polygonClipping from 'polygon-clipping';
import type { MultiPolygon as ClipMultiPolygon, Polygon as ClipPolygon } from 'polygon-clipping';
import 'leaflet/dist/leaflet.css';
import { useI18n, type Lang } from '../i18n.ts';
import { fill as fillIn } from './common.tsx';
import { escapeHtml } from '../../../protocol/html.ts';
import type { MapSettings } from '../../../protocol/server-config.ts';
import { api } from '../api.ts';

/**
 * Leaflet inserts a string tooltip as HTML; names come from manifests, so pass a text node. Kept
 * as written (translate="no"): a field's or device's name, an index's abbreviation (NDVI).
 */
function textNode(text: string): HTMLElement {
  const el = document.createElement('span');
  el.textContent = text;
  el.translate = false;
  return el;
}

export interface MapPolygon {
  id: string;
  geometry: GeoJSON.Geometry;
  label: string;
  /** Fill colour; outline only when absent. */
  fill?: string;
  /** How opaque the fill is (default 0.45 for a zone, 0.35 for a field). */
  fillOpacity?: number;
  /** Drawn hatched in grey (fill ignored): a part without data, e.g. of a field no zone covers. */
  hatched?: boolean;
  /**
   * Written on the map over the polygon's largest part and always shown, not only on hover (a
   * phone has no hover): e.g. "ゾーン1" and its rate, one line each.
   */
  tag?: string[];
  selected?: boolean;
}

export interface MapOverlay {
  url: string;
  /** [west, south, east, north] */
  bounds: [number, number, number, number];
  opacity?: number;
  alt: string;
}

export interface MapPoint {
  id: string;
  position: [number, number];
  label: string;
}

export const BASE_LAYER_KEY = 'hatake.baseLayerUrl';
/** The base layer's attribution (e.g. 国土地理院 for GSI tiles, whose terms ask for it). */
export const BASE_LAYER_ATTRIBUTION_KEY = 'hatake.baseLayerAttribution';

/**
 * Why a tile address cannot be the base layer: not an http(s) address ('scheme'), or not a
 * template naming the tile by `{z}`, `{x}` and `{y}` ('template' — every tile would be one image).
 */
export function baseLayerProblem(url: string): 'scheme' | 'template' | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'scheme';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'scheme';
  if (!['{z}', '{x}', '{y}'].every((p) => url.includes(p))) return 'template';
  return undefined;
}

/** The shared base layer as the server gives it (server.yaml `map.baseLayer`, its defaults filled in). */
export type SharedBaseLayer = NonNullable<MapSettings['baseLayer']>;

/** A base layer as a map shows it: whose it is, its tile template, its credit and its deepest tiles. */
export interface BaseLayer {
  source: 'browser' | 'shared';
  url: string;
  attribution: string;
  maxZoom: number;
}

/** How long a map waits for the server to name the shared base layer before it draws without one. */
const SHARED_WAIT_MS = 5000;
let sharedAsked: Promise<SharedBaseLayer | null> | undefined;
/** The shared base layer once the server has answered (null: none); undefined before. */
let sharedKnown: SharedBaseLayer | null | undefined;

/**
 * The shared base layer, asked of the server once per page load; null when the server sets none
 * or cannot say (an older server without the route, an error: asked again by the next map). A map
 * that has waited 5 s for the answer draws without it; the next map gets the answer when it came.
 */
export function sharedBaseLayer(): Promise<SharedBaseLayer | null> {
  sharedAsked ??= api<MapSettings>('/api/v1/map').then(
    (s) => (sharedKnown = s.baseLayer),
    () => {
      sharedAsked = undefined;
      return null;
    },
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), SHARED_WAIT_MS)));
  return Promise.race([sharedAsked, late]).finally(() => clearTimeout(timer));
}

/** The shared base layer: undefined while the server is asked, then the layer or null. */
export function useSharedBaseLayer(): SharedBaseLayer | null | undefined {
  const [layer, setLayer] = useState(sharedKnown);
  useEffect(() => {
    if (sharedKnown !== undefined) return;
    let live = true;
    void sharedBaseLayer().then((l) => {
      if (live) setLayer(l);
    });
    return () => {
      live = false;
    };
  }, []);
  return layer;
}

/**
 * The base layer a map shows: the one this browser chose (stored by BaseLayerSetting), else the
 * shared one, else none — the fields on a plain background.
 */
export function effectiveBaseLayer(shared: SharedBaseLayer | null | undefined): BaseLayer | null {
  const own = localStorage.getItem(BASE_LAYER_KEY);
  // Stored by the setting's form, which refuses what baseLayerProblem names; checked again here
  // for a value stored before that check (or by hand).
  if (own && baseLayerProblem(own) === undefined)
    return {
      source: 'browser',
      url: own,
      attribution: localStorage.getItem(BASE_LAYER_ATTRIBUTION_KEY) ?? '',
      maxZoom: 20,
    };
  // Checked by the server's config; checked here too, as what an older server may send.
  if (shared && baseLayerProblem(shared.url) === undefined)
    return {
      source: 'shared',
      url: shared.url,
      attribution: shared.attribution ?? '',
      maxZoom: shared.maxZoom,
    };
  return null;
}

/** Whether the map shows a base layer of tiles. */
function hasTiles(m: L.Map): boolean {
  let tiles = false;
  m.eachLayer((l) => {
    if (l instanceof L.TileLayer) tiles = true;
  });
  return tiles;
}

/** A ring's area in square degrees (shoelace): enough to compare the parts of one zone. */
function ringArea(ring: GeoJSON.Position[]): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++)
    a += ring[j]![0]! * ring[i]![1]! - ring[i]![0]! * ring[j]![1]!;
  return Math.abs(a / 2);
}

/** The outer ring of a (multi)polygon's largest part: where its name is written. */
function largestRing(g: GeoJSON.Geometry): GeoJSON.Position[] | undefined {
  const parts = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
  let best: GeoJSON.Position[] | undefined;
  for (const p of parts) if (p[0] && (!best || ringArea(p[0]) > ringArea(best))) best = p[0];
  return best;
}

/** A geometry's polygons as polygon-clipping takes them; null for what is not a polygon. */
function clipParts(g: GeoJSON.Geometry): ClipMultiPolygon | null {
  if (g.type === 'Polygon') return [g.coordinates as ClipPolygon];
  if (g.type === 'MultiPolygon') return g.coordinates as ClipMultiPolygon;
  return null;
}

/** Coordinates rounded to 1/perDegree of a degree. */
const snapTo = (mp: ClipMultiPolygon, perDegree: number): ClipMultiPolygon =>
  mp.map((poly) =>
    poly.map((ring) =>
      ring.map(([x, y]) => [Math.round(x * perDegree) / perDegree, Math.round(y * perDegree) / perDegree]),
    ),
  ) as ClipMultiPolygon;

/**
 * `zones` cut to the union of `fields` (a zone outside every field is not drawn). As the
 * prescriptions cut them (edge/recommend/coverage.ts): exact first, then on coordinates snapped to
 * 1e-9° and 1e-8° where polygon-clipping fails on nearly coincident edges; a zone that cannot be cut
 * at all is drawn as it came. Without a field polygon, the zones are drawn as they came.
 */
export function clipToFields(zones: readonly MapPolygon[], fields: readonly MapPolygon[]): MapPolygon[] {
  const outline = fields.map((f) => clipParts(f.geometry)).filter((p): p is ClipMultiPolygon => p !== null);
  if (zones.length === 0 || outline.length === 0) return [...zones];
  const out: MapPolygon[] = [];
  for (const z of zones) {
    const parts = clipParts(z.geometry);
    if (!parts) {
      out.push(z);
      continue;
    }
    let cut: ClipMultiPolygon | null = null;
    for (const perDegree of [0, 1e9, 1e8]) {
      const snap = (mp: ClipMultiPolygon) => (perDegree ? snapTo(mp, perDegree) : mp);
      try {
        const [first, ...rest] = outline.map(snap);
        cut = polygonClipping.intersection(snap(parts), polygonClipping.union(first!, ...rest));
        break;
      } catch {
        // try again on a coarser grid
      }
    }
    if (cut === null) out.push(z);
    else if (cut.length > 0) out.push({ ...z, geometry: { type: 'MultiPolygon', coordinates: cut } });
  }
  return out;
}

export function FieldMap(props: {
  fields: MapPolygon[];
  zones?: MapPolygon[];
  overlay?: MapOverlay | null;
  points?: MapPoint[];
  label: string;
  onSelect?: (id: string) => void;
}) {
  const el = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map | null>(null);
  const layers = useRef<L.LayerGroup | null>(null);
  // The hatching's SVG pattern, named for this map (two maps on a page must not share an id).
  const hatch = `hatch-${useId().replace(/[^A-Za-z0-9_-]/g, '')}`;
  const zones = useMemo(() => clipToFields(props.zones ?? [], props.fields), [props.zones, props.fields]);
  // The map is made once the shared base layer is known (at once after the first map of the page).
  const shared = useSharedBaseLayer();
  const known = shared !== undefined;

  useEffect(() => {
    if (!el.current || !known) return;
    const m = L.map(el.current, { zoomSnap: 0.25, attributionControl: true, keyboard: true });
    const base = effectiveBaseLayer(shared);
    if (base)
      L.tileLayer(base.url, {
        // Closer in than its deepest tiles, the map enlarges them.
        maxNativeZoom: base.maxZoom,
        maxZoom: Math.max(20, base.maxZoom),
        // Leaflet's attribution control takes HTML: the words stay words.
        attribution: escapeHtml(base.attribution),
      }).addTo(m);
    layers.current = L.layerGroup().addTo(m);
    map.current = m;
    return () => {
      m.remove();
      map.current = null;
    };
  }, [shared]);

  useEffect(() => {
    const m = map.current;
    const g = layers.current;
    if (!m || !g) return;
    g.clearLayers();
    const bounds = L.latLngBounds([]);
    if (props.overlay) {
      const [w, s, e, n] = props.overlay.bounds;
      const img = L.imageOverlay(
        props.overlay.url,
        [
          [s, w],
          [n, e],
        ],
        { opacity: props.overlay.opacity ?? 0.85, alt: props.overlay.alt, className: 'heatmap' },
      );
      img.addTo(g);
      bounds.extend([
        [s, w],
        [n, e],
      ]);
    }
    const tags: L.Tooltip[] = [];
    for (const z of zones) {
      const layer = L.geoJSON(z.geometry as GeoJSON.GeoJsonObject, {
        style: z.hatched
          ? { color: '#555', weight: 1, dashArray: '4 3', fillColor: `url(#${hatch})`, fillOpacity: 1 }
          : {
              color: '#333',
              weight: 1,
              fillColor: z.fill ?? '#888',
              fillOpacity: z.fill ? (z.fillOpacity ?? 0.45) : 0,
            },
      });
      layer.bindTooltip(textNode(z.label), { sticky: true });
      layer.addTo(g);
      bounds.extend(layer.getBounds());
      const ring = z.tag ? largestRing(z.geometry) : undefined;
      if (z.tag && ring) {
        const centre = L.PolyUtil.polygonCenter(
          ring.map(([x, y]) => L.latLng(y!, x!)),
          m.options.crs ?? L.CRS.EPSG3857,
        );
        // The first line names the polygon (ゾーン1); the others are data (a rate and its unit).
        const content = document.createElement('span');
        z.tag.forEach((line, i) => {
          const l = document.createElement('span');
          l.textContent = line;
          if (i > 0) l.translate = false;
          content.append(l);
        });
        tags.push(
          L.tooltip({ permanent: true, direction: 'center', className: 'map-tag', interactive: false })
            .setLatLng(centre)
            .setContent(content),
        );
      }
    }
    // Over zones the fields are outlines only: the zones' names stay reachable under the pointer.
    const outlineOnly = !props.onSelect && zones.length > 0;
    for (const f of props.fields) {
      const layer = L.geoJSON(f.geometry as GeoJSON.GeoJsonObject, {
        interactive: !outlineOnly,
        style: {
          color: f.selected ? '#0b5394' : '#1d6b2f',
          weight: f.selected || outlineOnly ? 3 : 2,
          fillColor: f.fill ?? '#1d6b2f',
          fillOpacity: outlineOnly ? 0 : f.fill ? (f.fillOpacity ?? 0.35) : 0.05,
        },
      });
      if (!outlineOnly) layer.bindTooltip(textNode(f.label), { sticky: true });
      if (props.onSelect) layer.on('click', () => props.onSelect!(f.id));
      layer.addTo(g);
      bounds.extend(layer.getBounds());
    }
    for (const tag of tags) tag.addTo(g);
    for (const p of props.points ?? []) {
      L.circleMarker([p.position[1], p.position[0]], {
        radius: 6,
        color: '#7a3e00',
        weight: 2,
        fillOpacity: 0.8,
      })
        .bindTooltip(textNode(p.label))
        .addTo(g);
    }
    // A small field fills the map; past zoom 19 only with no base layer, whose tiles end there.
    if (bounds.isValid()) m.fitBounds(bounds, { padding: [12, 12], maxZoom: hasTiles(m) ? 19 : 21 });
    else m.setView([36.2, 138.25], 5);
  }, [known, props.fields, zones, props.overlay, props.points]);

  const hatched = zones.some((z) => z.hatched);
  return (
    <>
      {hatched ? <HatchPattern id={hatch} /> : null}
      <div ref={el} class="map" role="region" aria-label={props.label} tabIndex={0} />
    </>
  );
}

/** The grey diagonal hatching of a part without data, as an SVG pattern the map's paths fill with. */
function HatchPattern({ id }: { id: string }) {
  return (
    <svg class="defs" width="0" height="0" aria-hidden="true" focusable="false">
      <defs>
        <pattern id={id} width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
          <rect width="8" height="8" fill="#ececec" />
          <line x1="0" y1="0" x2="0" y2="8" stroke="#6b6b6b" stroke-width="3" />
        </pattern>
      </defs>
    </svg>
  );
}

/** Light to dark green, more nitrogen darker (ColorBrewer Greens): readable in greyscale too. */
const RATE_STOPS = ['#edf8e9', '#bae4b3', '#74c476', '#31a354', '#006d2c'] as const;

/** The colour of a rate between the lowest and the highest of the map's zones (the middle when all are equal). */
export function rateFill(kgHa: number, lo: number, hi: number): string {
  const x = hi > lo ? Math.min(1, Math.max(0, (kgHa - lo) / (hi - lo))) : 0.5;
  const t = x * (RATE_STOPS.length - 1);
  const k = Math.min(RATE_STOPS.length - 2, Math.floor(t));
  const rgb = (h: string) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  const [a, b] = [rgb(RATE_STOPS[k]!), rgb(RATE_STOPS[k + 1]!)];
  return `rgb(${a.map((v, i) => Math.round(v + (b[i]! - v) * (t - k))).join(', ')})`;
}

/** More rates than this read as a colour ramp from the lowest to the highest, not one swatch each. */
const MAX_SWATCHES = 7;

export interface PrescriptionZone {
  id: string;
  zone: number;
  geometry: GeoJSON.Geometry;
  /** The rate the spreader applies there (the officer's edit when there is one), kg N/ha. */
  kgNHa: number;
  /** Said on hover: the zone and its rate in both units. */
  label: string;
}

/**
 * The prescription map: each zone filled by the rate it gets and named on the map with its rate
 * (a phone user need not tap each), the field's outline, the part of the field no zone covers
 * hatched (the spreader applies the default rate there), and a legend beside it in the reader's
 * unit. `rate` writes a rate as a number in `unit` (kg/10a in Japanese, kg/ha in English).
 */
export function PrescriptionMap(props: {
  zones: PrescriptionZone[];
  field: { geometry: GeoJSON.Geometry; label: string } | null;
  uncovered: { geometry: GeoJSON.Geometry; kgNHa: number } | null;
  rate: (kgNHa: number) => string;
  unit: string;
  label: string;
}) {
  const { t, lang } = useI18n();
  const { zones, field, uncovered, rate, unit } = props;
  const rates = zones.map((z) => z.kgNHa);
  const lo = Math.min(...rates);
  const hi = Math.max(...rates);
  const polygons = useMemo<MapPolygon[]>(
    () => [
      ...zones.map((z) => ({
        id: z.id,
        geometry: z.geometry,
        label: z.label,
        fill: rateFill(z.kgNHa, lo, hi),
        fillOpacity: 0.85,
        tag: [t('zoneN').replace('{n}', String(z.zone)), `${rate(z.kgNHa)} ${unit}`],
      })),
      ...(uncovered
        ? [
            {
              id: 'uncovered',
              geometry: uncovered.geometry,
              label: `${t('rxDefaultRate')}: ${rate(uncovered.kgNHa)} ${unit}`,
              hatched: true,
            },
          ]
        : []),
    ],
    [zones, uncovered, lo, hi, rate, unit, t],
  );
  const outline = useMemo<MapPolygon[]>(
    () => (field ? [{ id: 'field', geometry: field.geometry, label: field.label }] : []),
    [field],
  );
  // One swatch per rate the map shows (zones sharing a rate share it), lowest first.
  const swatches = new Map<string, { kgNHa: number; zones: number[] }>();
  for (const z of [...zones].sort((a, b) => a.kgNHa - b.kgNHa || a.zone - b.zone)) {
    const key = rate(z.kgNHa);
    const s = swatches.get(key);
    if (s) s.zones.push(z.zone);
    else swatches.set(key, { kgNHa: z.kgNHa, zones: [z.zone] });
  }
  const ramp = swatches.size > MAX_SWATCHES;
  const unitText = <span translate={false}>{unit}</span>;
  return (
    <div class="rx-map">
      <FieldMap fields={outline} zones={polygons} label={props.label} />
      <div class="rx-legend" data-testid="rx-legend">
        <p class="rx-legend-title">{fillIn(t('rxLegendTitle'), { unit: unitText })}</p>
        <ul>
          {ramp ? (
            <li>
              <span
                class="swatch ramp"
                style={{ background: `linear-gradient(to right, ${RATE_STOPS.join(', ')})` }}
              />
              <span translate={false}>
                {rate(lo)} – {rate(hi)}
              </span>
            </li>
          ) : (
            [...swatches].map(([text, s]) => (
              <li key={text} data-testid="rx-legend-rate">
                <span class="swatch" style={{ background: rateFill(s.kgNHa, lo, hi) }} />
                <span translate={false} class="rx-rate">
                  {text}
                </span>
                <span class="sub">{zoneList(s.zones, t, lang)}</span>
              </li>
            ))
          )}
          {uncovered ? (
            <li data-testid="rx-legend-default">
              <span class="swatch hatch" />
              <span translate={false} class="rx-rate">
                {rate(uncovered.kgNHa)}
              </span>
              <span class="sub">{t('rxDefaultRate')}</span>
            </li>
          ) : null}
          {field ? (
            <li>
              <span class="swatch outline" />
              <span>{t('rxFieldOutline')}</span>
            </li>
          ) : null}
        </ul>
      </div>
    </div>
  );
}

/** "ゾーン1、3" / "Zones 1, 3". */
function zoneList(zones: number[], t: (k: string) => string, lang: Lang): ComponentChildren {
  return zones.length === 1
    ? t('zoneN').replace('{n}', String(zones[0]))
    : t('zonesN').replace('{n}', zones.join(lang === 'ja' ? '、' : ', '));
}
