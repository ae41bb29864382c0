// The index heatmap of one processed scene, as FieldMap lays it under a field's polygon and zones:
// which of the scene's layers to show, the image overlay for it (the PNG at its WGS84 bounds, from
// the server's file route) and its legend. The farmer's field page shows the latest scene's; the
// officer's review shows the scene the recommendation was computed from.
import { useMemo } from 'preact/hooks';
import type { FieldScene, MapLayer } from '../../../protocol/views.ts';
import { useI18n } from '../i18n.ts';
import { fmtNumber } from '../format.ts';
import type { MapOverlay } from './FieldMap.tsx';

/** The scene's layer of `index`, or its first layer when it has none of that index. */
export function sceneLayer(
  scene: FieldScene | undefined,
  index: string | null | undefined,
): MapLayer | undefined {
  return scene?.maps.find((m) => m.index === index) ?? scene?.maps[0];
}

/** The layer as a FieldMap overlay; null until the gateway has uploaded its PNG. */
export function useHeatmapOverlay(layer: MapLayer | undefined): MapOverlay | null {
  const { t } = useI18n();
  return useMemo(
    () =>
      layer && layer.available
        ? { url: layer.url, bounds: layer.bounds, alt: `${layer.index.toUpperCase()} ${t('heatmap')}` }
        : null,
    [layer, t],
  );
}

/**
 * Where the legend PNG (edge/imagery/heatmap.ts, legendPng: 320 × 96 px) draws the colour ramp and
 * the masked swatch. Its words are English and small, so the page shows only these two parts of it
 * and writes the words itself, in the reader's language; the colours stay the server's own (the
 * ramp is not copied here). tests/e2e/officer.test.ts checks the crop against the ramp's stops.
 */
const LEGEND_PNG = { width: 320, bar: [15, 29, 290, 22], masked: [15, 77, 14, 14] } as const;

/** One part of the legend PNG (x, y, width, height in its pixels), scaled to the box it fills. */
function LegendCrop({ url, box, class: cls }: { url: string; box: readonly number[]; class: string }) {
  const [x, y, w, h] = box as [number, number, number, number];
  return (
    <span class={`legend-crop ${cls}`} style={{ aspectRatio: `${w} / ${h}` }} aria-hidden="true">
      <img
        src={url}
        alt=""
        style={{
          width: `${(LEGEND_PNG.width / w) * 100}%`,
          left: `${(-x / w) * 100}%`,
          top: `${(-y / h) * 100}%`,
        }}
      />
    </span>
  );
}

/**
 * The layer's legend with the field's mean of the index: the server's colour ramp with its values
 * beneath, and what grey means, in the reader's language. While the server does not hold the
 * layer's PNGs (the legend's goes with the heatmap's) there is no ramp, only the mean and why: on
 * its way for a new scene (the default), or no longer kept for an old one.
 */
export function HeatmapLegend({
  scene,
  layer,
  unavailable = 'pending',
}: {
  scene: FieldScene;
  layer: MapLayer;
  unavailable?: 'pending' | 'deleted';
}) {
  const { t, lang } = useI18n();
  const name = layer.index.toUpperCase();
  const [lo, hi] = layer.range;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <div class="legend" data-testid="heatmap-legend" role="group" aria-label={`${t('legend')} ${name}`}>
      <p class="legend-title">
        <strong translate={false}>{name}</strong> · {t('heatmapFieldMean')}{' '}
        <span translate={false}>{fmtNumber(scene.indices[layer.index]?.mean ?? null, lang, 2)}</span>
        {!layer.available ? (
          <span class="muted">
            {' '}
            · {unavailable === 'pending' ? t('heatmapPending') : t('heatmapNotHeld')}
          </span>
        ) : null}
      </p>
      {layer.available ? (
        <>
          <div class="legend-ramp">
            <LegendCrop url={layer.legendUrl} box={LEGEND_PNG.bar} class="bar" />
            <span class="legend-ticks" translate={false} data-testid="heatmap-ticks">
              {ticks.map((x) => (
                <span key={x} style={{ left: `${x * 100}%` }}>
                  {fmtNumber(lo + x * (hi - lo), lang, 2)}
                </span>
              ))}
            </span>
          </div>
          <p class="legend-masked">
            <LegendCrop url={layer.legendUrl} box={LEGEND_PNG.masked} class="swatch" />
            {t('heatmapMasked')}
          </p>
        </>
      ) : null}
    </div>
  );
}
