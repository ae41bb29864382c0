// What the server knows about the models and crop profiles recommendations name: the model card
// (models/artifacts/*.card.json through edge/inference's registry, or the card of a model this
// server sent the farm's gateways) for the officer's detail view, and the crop profile whose limits
// and spreader step an officer's edit is held to.
import { HatakeError } from '../../protocol/errors.ts';
import type { CropProfile } from '../../protocol/crop-profile.ts';
import type { ModelCard } from '../../protocol/model-card.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { ModelRegistry } from '../../edge/inference/registry.ts';
import { ARTIFACTS_DIR, PROFILES_DIR, TRAINED_DIR } from '../../models/paths.ts';
import type { Downlink } from '../downlink.ts';

export interface CardLookup {
  ref: string;
  cardStatus: 'matches' | 'sha256_mismatch' | 'not_installed';
  card: ModelCard | null;
}

/** The card of a model published to a farm's gateways (`model` downlink document), if any. */
export type PublishedCard = (farm: string, ref: string) => ModelCard | undefined;

/**
 * Cards of the models an admin sent a farm's gateways (`POST /api/v1/farms/:farm/models`): the
 * card travels in the `model` downlink document (checked against the upload's sha256 when sent).
 */
export function publishedCards(downlink: Downlink): PublishedCard {
  return (farm, ref) => {
    const doc = downlink.get(farm, 'model', ref);
    return doc && !doc.deleted ? (doc.body as { card: ModelCard }).card : undefined;
  };
}

export class ModelInfo {
  private readonly registry: ModelRegistry;
  private readonly published: PublishedCard;

  constructor(opts: { registry?: ModelRegistry; published?: PublishedCard } = {}) {
    this.registry =
      opts.registry ??
      new ModelRegistry({ modelDirs: [ARTIFACTS_DIR, TRAINED_DIR], profileDirs: [PROFILES_DIR] });
    this.published = opts.published ?? (() => undefined);
  }

  /**
   * The card of the recommendation's model — the one shipped with the server, else the one this
   * server sent the farm's gateways — and whether its sha256 is the one used.
   */
  card(rec: Recommendation): CardLookup {
    const ref = `${rec.model.id}@${rec.model.version}`;
    let card: ModelCard | undefined;
    try {
      card = this.registry.entry(ref).card;
    } catch {
      card = this.published(rec.farm, ref);
    }
    if (!card) return { ref, cardStatus: 'not_installed', card: null };
    return { ref, cardStatus: card.sha256 === rec.model.sha256 ? 'matches' : 'sha256_mismatch', card };
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
