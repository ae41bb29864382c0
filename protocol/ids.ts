// Identifiers that appear in topics, URLs and file names. Kept to a safe alphabet so they can be
// used in any of those places without escaping (and never as a path traversal).
import { Type } from '@sinclair/typebox';

export const ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
const ID_RE = new RegExp(ID_PATTERN);

export const Id = (description: string) => Type.String({ pattern: ID_PATTERN, description });

export function isId(s: unknown): s is string {
  return typeof s === 'string' && ID_RE.test(s);
}

/** A recommendation's id: `rec-` and a slug (made by the gateway's recommender). */
export const RecommendationId = (description = 'Recommendation id') =>
  Type.String({ pattern: '^rec-[a-z0-9-]{1,80}$', description });
