// A field on a map with no internet tiles needed: the field polygons (GeoJSON), the management
// zones coloured by rate or index, and the latest index heatmap as an image overlay at its WGS84
// bounds. A base layer (e.g. a co-op's own tile server or GSI tiles) is added only when the user
// configured its URL.
import { useEffect, useRef } from 'preact/hooks';
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';

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

  useEffect(() => {
    if (!el.current) return;
    const m = L.map(el.current, { zoomSnap: 0.25, attributionControl: true, keyboard: true });
    const base = localStorage.getItem(BASE_LAYER_KEY);
    if (base && /^https?:\/\//.test(base)) L.tileLayer(base, { maxZoom: 20 }).addTo(m);
    layers.current = L.layerGroup().addTo(m);
    map.current = m;
    return () => {
      m.remove();
      map.current = null;
    };
  }, []);

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
    for (const z of props.zones ?? []) {
      const layer = L.geoJSON(z.geometry as GeoJSON.GeoJsonObject, {
        style: { color: '#333', weight: 1, fillColor: z.fill ?? '#888', fillOpacity: z.fill ? 0.45 : 0 },
      });
      layer.bindTooltip(textNode(z.label), { sticky: true });
      layer.addTo(g);
      bounds.extend(layer.getBounds());
    }
    for (const f of props.fields) {
      const layer = L.geoJSON(f.geometry as GeoJSON.GeoJsonObject, {
        style: {
          color: f.selected ? '#0b5394' : '#1d6b2f',
          weight: f.selected ? 3 : 2,
          fillColor: f.fill ?? '#1d6b2f',
          fillOpacity: f.fill ? 0.35 : 0.05,
        },
      });
      layer.bindTooltip(textNode(f.label), { sticky: true });
      if (props.onSelect) layer.on('click', () => props.onSelect!(f.id));
      layer.addTo(g);
      bounds.extend(layer.getBounds());
    }
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
    if (bounds.isValid()) m.fitBounds(bounds, { padding: [12, 12], maxZoom: 19 });
    else m.setView([36.2, 138.25], 5);
  }, [props.fields, props.zones, props.overlay, props.points]);

  return <div ref={el} class="map" role="region" aria-label={props.label} tabIndex={0} />;
}
