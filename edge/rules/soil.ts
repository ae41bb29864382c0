// Soil water: FAO-56 table 19 (typical water content at field capacity and wilting point by
// texture, m³/m³) and the root-zone water balance of FAO-56 chapter 8 — TAW, RAW with the
// depletion fraction p adjusted for ETc and clamped to 0.1–0.8, and root-zone depletion.
import { normalizeName } from './crops.ts';
import { clamp } from './format.ts';

export interface TextureRange {
  ja: string;
  en: string;
  /** θFC range, m³/m³. */
  fc: readonly [number, number];
  /** θWP range, m³/m³. */
  wp: readonly [number, number];
  aliases: readonly string[];
}

/** FAO-56 table 19 (Allen et al. 1998). The rules use the midpoints unless a field overrides them. */
export const FAO56_TABLE19 = {
  sand: { ja: '砂土', en: 'sand', fc: [0.07, 0.17], wp: [0.02, 0.07], aliases: ['sand', 's', '砂土'] },
  loamy_sand: {
    ja: '壌質砂土',
    en: 'loamy sand',
    fc: [0.11, 0.19],
    wp: [0.03, 0.1],
    aliases: ['loamy-sand', 'ls', '壌質砂土'],
  },
  sandy_loam: {
    ja: '砂壌土',
    en: 'sandy loam',
    fc: [0.18, 0.28],
    wp: [0.06, 0.16],
    aliases: ['sandy-loam', 'sl', '砂壌土'],
  },
  loam: { ja: '壌土', en: 'loam', fc: [0.2, 0.3], wp: [0.07, 0.17], aliases: ['loam', 'l', '壌土'] },
  silt_loam: {
    ja: 'シルト質壌土',
    en: 'silt loam',
    fc: [0.22, 0.36],
    wp: [0.09, 0.21],
    aliases: ['silt-loam', 'silty-loam', 'sil', 'シルト質壌土'],
  },
  silt: { ja: 'シルト', en: 'silt', fc: [0.28, 0.36], wp: [0.12, 0.22], aliases: ['silt', 'si', 'シルト'] },
  silty_clay_loam: {
    ja: 'シルト質埴壌土',
    en: 'silty clay loam',
    fc: [0.3, 0.37],
    wp: [0.17, 0.24],
    aliases: ['silty-clay-loam', 'silt-clay-loam', 'sicl', 'シルト質埴壌土'],
  },
  silty_clay: {
    ja: 'シルト質埴土',
    en: 'silty clay',
    fc: [0.3, 0.42],
    wp: [0.17, 0.29],
    aliases: ['silty-clay', 'sic', 'シルト質埴土'],
  },
  clay: { ja: '埴土', en: 'clay', fc: [0.32, 0.4], wp: [0.2, 0.24], aliases: ['clay', 'c', '埴土'] },
} as const satisfies Record<string, TextureRange>;

export type TextureId = keyof typeof FAO56_TABLE19;

const BY_ALIAS = new Map<string, TextureId>();
for (const [id, t] of Object.entries(FAO56_TABLE19) as [TextureId, TextureRange][]) {
  for (const a of t.aliases) BY_ALIAS.set(normalizeName(a), id);
}

/** The FAO-56 texture class a manifest's free-text soil texture names, or undefined. */
export function resolveTexture(name: string | undefined): TextureId | undefined {
  return name === undefined ? undefined : BY_ALIAS.get(normalizeName(name));
}

/** Midpoints of a texture's θFC and θWP ranges. */
export function textureMidpoints(id: TextureId): { fc: number; wp: number } {
  const t = FAO56_TABLE19[id];
  return { fc: round3((t.fc[0] + t.fc[1]) / 2), wp: round3((t.wp[0] + t.wp[1]) / 2) };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** Total available water in the root zone, mm: TAW = 1000 (θFC − θWP) Zr (FAO-56 eq. 82). */
export function totalAvailableWater(fc: number, wp: number, rootDepthM: number): number {
  return 1000 * (fc - wp) * rootDepthM;
}

/** FAO-56 p adjusted for the crop's evapotranspiration: p = p_table + 0.04 (5 − ETc), clamped to 0.1–0.8. */
export function adjustedDepletionFraction(pTable: number, etcMmPerDay: number): number {
  return clamp(pTable + 0.04 * (5 - etcMmPerDay), 0.1, 0.8);
}

/** Readily available water, mm: RAW = p · TAW (FAO-56 eq. 83). */
export function readilyAvailableWater(p: number, taw: number): number {
  return p * taw;
}

/** Root-zone depletion below field capacity, mm (0 at or above field capacity). */
export function rootZoneDepletion(fc: number, theta: number, rootDepthM: number): number {
  return Math.max(0, 1000 * (fc - theta) * rootDepthM);
}
