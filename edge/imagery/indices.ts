// Vegetation indices as data (../shared/AGRONOMY.md). Each entry names the band roles it needs —
// with alternatives in order of preference — and a formula over reflectances (0–1). A new index
// is a new entry here, not a new module. An index is computed only where all its bands are
// valid and the result is finite. Each entry also says which values the index can take, so a raster
// of an index derived elsewhere (profile `index`) can be range-checked.
import type { BandRole } from '../../protocol/imagery.ts';

export interface IndexDef {
  id: string;
  name: string;
  formula: string;
  /** Formula inputs: variable → band roles that can supply it, preferred first. */
  inputs: Readonly<Record<string, readonly BandRole[]>>;
  /** The formula over reflectances, by input variable. */
  compute(v: Readonly<Record<string, number>>): number;
  /** The range mapped onto the colour ramp of maps. */
  display: readonly [number, number];
  /**
   * The values the index can take: a pixel of an already derived index raster outside them is
   * no data. Normalized differences (and SAVI, EVI) lie in −1…1 for reflectances in 0…1 (EVI:
   * by convention, as in MODIS's valid range); CIre is −1 for no NIR and, as 20, far above any
   * canopy (closed canopies reach about 10).
   */
  valid: readonly [number, number];
}

export const INDICES: readonly IndexDef[] = [
  {
    id: 'ndvi',
    name: 'NDVI',
    formula: '(NIR − Red) / (NIR + Red)',
    inputs: { nir: ['nir'], red: ['red'] },
    compute: ({ nir, red }) => (nir! - red!) / (nir! + red!),
    display: [0, 1],
    valid: [-1, 1],
  },
  {
    id: 'ndre',
    name: 'NDRE',
    formula: '(NIR − RE) / (NIR + RE)',
    // AGRONOMY.md: B8A with B5 (both 20 m); B8 is the variant — the stats record which was used.
    inputs: { nir: ['nir08', 'nir'], re: ['rededge'] },
    compute: ({ nir, re }) => (nir! - re!) / (nir! + re!),
    display: [0, 0.6],
    valid: [-1, 1],
  },
  {
    id: 'gndvi',
    name: 'GNDVI',
    formula: '(NIR − Green) / (NIR + Green)',
    inputs: { nir: ['nir'], green: ['green'] },
    compute: ({ nir, green }) => (nir! - green!) / (nir! + green!),
    display: [0, 1],
    valid: [-1, 1],
  },
  {
    id: 'savi',
    name: 'SAVI',
    formula: '1.5 · (NIR − Red) / (NIR + Red + 0.5)',
    inputs: { nir: ['nir'], red: ['red'] },
    compute: ({ nir, red }) => (1.5 * (nir! - red!)) / (nir! + red! + 0.5),
    display: [0, 1],
    valid: [-1, 1],
  },
  {
    id: 'evi',
    name: 'EVI',
    formula: '2.5 · (NIR − Red) / (NIR + 6·Red − 7.5·Blue + 1)',
    inputs: { nir: ['nir'], red: ['red'], blue: ['blue'] },
    compute: ({ nir, red, blue }) => (2.5 * (nir! - red!)) / (nir! + 6 * red! - 7.5 * blue! + 1),
    display: [0, 1],
    valid: [-1, 1],
  },
  {
    id: 'cire',
    name: 'CIre',
    formula: 'NIR / RE − 1',
    inputs: { nir: ['nir'], re: ['rededge'] },
    compute: ({ nir, re }) => nir! / re! - 1,
    display: [0, 6],
    valid: [-1, 20],
  },
];

/** The index definition for an id, or undefined. */
export function indexById(id: string): IndexDef | undefined {
  return INDICES.find((d) => d.id === id);
}

/** Picks, for each input of an index, the first role the scene has; undefined when one is missing. */
export function resolveInputs(
  def: IndexDef,
  has: (role: BandRole) => boolean,
): Record<string, BandRole> | undefined {
  const out: Record<string, BandRole> = {};
  for (const [v, roles] of Object.entries(def.inputs)) {
    const r = roles.find(has);
    if (!r) return undefined;
    out[v] = r;
  }
  return out;
}
