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
 * The layer's legend with the field's mean of the index. While the server does not hold the
 * layer's PNGs (the legend's goes with the heatmap's) there is no image, only the mean and why:
 * on its way for a new scene (the default), or no longer kept for an old one.
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
  return (
    <p class="legend" data-testid="heatmap-legend">
      {layer.available ? (
        <img src={layer.legendUrl} alt={`${t('legend')} ${layer.index.toUpperCase()}`} height={40} />
      ) : null}
      <span translate={false}>
        {layer.index.toUpperCase()} {fmtNumber(scene.indices[layer.index]?.mean ?? null, lang, 2)}
      </span>
      {!layer.available ? (
        <span class="muted"> · {unavailable === 'pending' ? t('heatmapPending') : t('heatmapNotHeld')}</span>
      ) : null}
    </p>
  );
}
