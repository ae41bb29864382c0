// Heatmaps: one PNG per field and index (sharp), one map pixel per raster pixel, transparent
// outside the field, masked pixels (cloud, no data) in translucent grey, and the index on the
// viridis ramp — perceptually uniform and readable with the common colour-vision deficiencies
// (deuteranopia, protanopia, tritanopia) and in greyscale. A legend PNG per index (sharp renders
// an SVG) and the ramp's stops as data, so the dashboard can draw its own legend.
import type SharpT from 'sharp';

/**
 * sharp (libvips) loaded on first use: a run that writes no maps (`--no-maps`, the gateway's
 * statistics-only runs) does not pay its ~0.2 s of start-up.
 */
let sharpLoaded: Promise<typeof SharpT> | undefined;
const sharpLib = (): Promise<typeof SharpT> => (sharpLoaded ??= import('sharp').then((m) => m.default));

/** Viridis at 11 evenly spaced stops (matplotlib's published values). */
export const RAMP_STOPS: readonly string[] = [
  '#440154',
  '#482475',
  '#414487',
  '#355f8d',
  '#2a788e',
  '#21918c',
  '#22a884',
  '#44bf70',
  '#7ad151',
  '#bddf26',
  '#fde725',
];
export const RAMP_NAME = 'viridis';
/** Colour of in-field pixels without a value (masked or no data). */
export const MASKED_RGBA: readonly [number, number, number, number] = [158, 158, 158, 140];

const STOPS_RGB = RAMP_STOPS.map(
  (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number],
);

/** 256-entry lookup table of the ramp. */
const LUT: Uint8Array = (() => {
  const lut = new Uint8Array(256 * 3);
  const n = STOPS_RGB.length - 1;
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * n;
    const k = Math.min(n - 1, Math.floor(t));
    const f = t - k;
    for (let c = 0; c < 3; c++)
      lut[i * 3 + c] = Math.round(STOPS_RGB[k]![c]! * (1 - f) + STOPS_RGB[k + 1]![c]! * f);
  }
  return lut;
})();

/** The ramp colour of a value in [lo, hi] (clamped). */
export function rampColour(v: number, lo: number, hi: number): [number, number, number] {
  const i = Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo)) * 255)));
  return [LUT[i * 3]!, LUT[i * 3 + 1]!, LUT[i * 3 + 2]!];
}

/**
 * A PNG of values on a width×height grid. `inField[i]` says whether pixel i is in the field;
 * NaN values in the field are drawn as masked.
 */
export async function heatmapPng(
  values: Float32Array,
  inField: Uint8Array,
  width: number,
  height: number,
  range: readonly [number, number],
): Promise<Buffer> {
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    if (!inField[i]) continue; // transparent
    const v = values[i]!;
    if (Number.isNaN(v)) {
      rgba[i * 4] = MASKED_RGBA[0];
      rgba[i * 4 + 1] = MASKED_RGBA[1];
      rgba[i * 4 + 2] = MASKED_RGBA[2];
      rgba[i * 4 + 3] = MASKED_RGBA[3];
      continue;
    }
    const [r, g, b] = rampColour(v, range[0], range[1]);
    rgba[i * 4] = r;
    rgba[i * 4 + 1] = g;
    rgba[i * 4 + 2] = b;
    rgba[i * 4 + 3] = 255;
  }
  const sharp = await sharpLib();
  return sharp(rgba, { raw: { width, height, channels: 4 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

function esc(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A legend PNG: the index name, the ramp with five labelled ticks, and the masked swatch. */
export async function legendPng(title: string, range: readonly [number, number]): Promise<Buffer> {
  const w = 320;
  const h = 96;
  const stops = RAMP_STOPS.map(
    (c, i) => `<stop offset="${(i / (RAMP_STOPS.length - 1)).toFixed(3)}" stop-color="${c}"/>`,
  ).join('');
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((t) => {
      const x = 16 + t * 288;
      const v = range[0] + t * (range[1] - range[0]);
      return `<line x1="${x}" y1="50" x2="${x}" y2="56" stroke="#222"/><text x="${x}" y="70" font-size="12" text-anchor="middle">${+v.toFixed(2)}</text>`;
    })
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">
<rect width="${w}" height="${h}" fill="#ffffff" fill-opacity="0.9"/>
<defs><linearGradient id="g" x1="0" x2="1" y1="0" y2="0">${stops}</linearGradient></defs>
<text x="16" y="22" font-family="sans-serif" font-size="14" font-weight="bold">${esc(title)}</text>
<rect x="16" y="30" width="288" height="20" fill="url(#g)" stroke="#222"/>
<g font-family="sans-serif" fill="#222">${ticks}</g>
<rect x="16" y="78" width="12" height="12" fill="rgb(${MASKED_RGBA[0]},${MASKED_RGBA[1]},${MASKED_RGBA[2]})" fill-opacity="${(MASKED_RGBA[3] / 255).toFixed(2)}" stroke="#222"/>
<text x="34" y="89" font-family="sans-serif" font-size="11" fill="#222">masked / no data (cloud, shadow)</text>
</svg>`;
  const sharp = await sharpLib();
  return sharp(Buffer.from(svg)).png().toBuffer();
}
