// Radiometry: reflectance = (DN + offset) · scale. The offset is decided per scene — by the user,
// by the transfer manifest, by the scene's metadata (Sentinel-2 processing baseline ≥ 04.00 →
// BOA_ADD_OFFSET −1000; Earth Search's `boa_offset_applied` → 0), or by a profile that fixes it —
// and never assumed: a Sentinel-2 scene nobody can place is refused.
import type { SensorProfile } from '../../protocol/imagery.ts';
import { HatakeError } from '../../protocol/errors.ts';
import type { SceneMetadata } from './scene-metadata.ts';

export interface Radiometry {
  scale: number;
  offset: number;
  offsetSource: 'user' | 'manifest' | 'metadata' | 'profile';
  offsetReason: string;
  nodata: number | null;
}

/** Sentinel-2 BOA_ADD_OFFSET (and L1C RADIO_ADD_OFFSET) from processing baseline 04.00 on. */
export const S2_OFFSET_FROM_0400 = -1000;

/** Whether a processing baseline like "04.00" is at or after 04.00. */
export function baselineHasOffset(baseline: string): boolean | undefined {
  const m = /^(\d{1,2})\.(\d{2})$/.exec(baseline.trim());
  if (!m) return undefined;
  return Number(m[1]) * 100 + Number(m[2]) >= 400;
}

/** Decides scale and offset for a scene; throws HATAKE_E_IMAGERY_RADIOMETRY when nothing decides. */
export function decideRadiometry(
  profile: SensorProfile,
  meta: SceneMetadata,
  given: { offset?: number; offsetFrom?: 'user' | 'manifest'; scale?: number; file?: string } = {},
): Radiometry {
  const scale = given.scale ?? profile.scale;
  const nodata = profile.nodata;
  if (given.offset !== undefined) {
    if (!Number.isFinite(given.offset)) {
      throw new HatakeError('HATAKE_E_IMAGERY_RADIOMETRY', `offset ${given.offset} is not a number`, {
        expected: 'a finite number, e.g. -1000 or 0',
      });
    }
    const from = given.offsetFrom ?? 'user';
    return { scale, offset: given.offset, offsetSource: from, offsetReason: `given by the ${from}`, nodata };
  }
  if (profile.offsetRule === 'fixed') {
    return {
      scale,
      offset: profile.offset ?? 0,
      offsetSource: 'profile',
      offsetReason: `fixed by profile ${profile.id}`,
      nodata,
    };
  }
  // s2-l2a-baseline
  if (meta.offsetApplied === true) {
    return {
      scale,
      offset: 0,
      offsetSource: 'metadata',
      offsetReason: `the provider already applied the offset (${meta.source ?? 'metadata'})`,
      nodata,
    };
  }
  const has = meta.processingBaseline ? baselineHasOffset(meta.processingBaseline) : undefined;
  if (has !== undefined) {
    return {
      scale,
      offset: has ? S2_OFFSET_FROM_0400 : 0,
      offsetSource: 'metadata',
      offsetReason: `processing baseline ${meta.processingBaseline} (${has ? '≥' : '<'} 04.00) from ${meta.source ?? 'metadata'}`,
      nodata,
    };
  }
  throw new HatakeError(
    'HATAKE_E_IMAGERY_RADIOMETRY',
    `cannot tell the radiometric offset of this ${profile.id} scene: no processing baseline in its metadata`,
    {
      place: given.file ? { file: given.file } : undefined,
      expected:
        '--offset -1000 (processing baseline ≥ 04.00) or --offset 0 (before), or a STAC item beside the files',
    },
  );
}
