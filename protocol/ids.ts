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

/**
 * A processed scene's id: it names folders, files and URL segments on the gateway and the server,
 * so a plain name (letters, digits, `_ . -`, up to 200) — never a path. The imagery code refuses
 * `..` inside one as well.
 */
export const SCENE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$';
export const SceneId = (description = 'Scene id') => Type.String({ pattern: SCENE_ID_PATTERN, description });
