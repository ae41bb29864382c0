// What the server knows about the models and crop profiles recommendations name: the model card
// (models/artifacts/*.card.json through edge/inference's registry) for the officer's detail view,
// and the crop profile whose limits and spreader step an officer's edit is held to.
import { HatakeError } from '../../protocol/errors.ts';
import type { CropProfile } from '../../protocol/crop-profile.ts';
import type { ModelCard } from '../../protocol/model-card.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';

export interface CardLookup {
  ref: string;
  cardStatus: 'matches' | 'sha256_mismatch' | 'not_installed';
  card: ModelCard | null;
}

export class ModelInfo {
  private readonly registry: ModelRegistry;

  constructor(registry?: ModelRegistry) {
    this.registry =
      registry ?? new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
  }

  /** The installed card of the recommendation's model, and whether its sha256 is the one used. */
  card(rec: Recommendation): CardLookup {
    const ref = `${rec.model.id}@${rec.model.version}`;
    try {
      const { card } = this.registry.entry(ref);
      return { ref, cardStatus: card.sha256 === rec.model.sha256 ? 'matches' : 'sha256_mismatch', card };
    } catch {
      return { ref, cardStatus: 'not_installed', card: null };
    }
  }

  /** The crop profile the recommendation was made with, if this server has that exact version. */
  profile(rec: Recommendation): CropProfile | undefined {
    try {
      const p = this.registry.profile(rec.profile.id);
      return p.version === rec.profile.version ? p : undefined;
    } catch {
      return undefined;
    }
  }

  /** Like `profile`, or a coded error saying which profile is missing. */
  requireProfile(rec: Recommendation): CropProfile {
    const p = this.profile(rec);
    if (!p)
      throw new HatakeError(
        'HATAKE_E_MODEL_NOT_FOUND',
        `crop profile ${rec.profile.id}@${rec.profile.version} is not installed on the server, so its limits cannot be checked`,
        { expected: this.registry.profileIds().join(', ') || 'crop profiles in models/profiles' },
      );
    return p;
  }
}
