// What the server's ed25519 key signs for each downlink document, and what the gateway verifies:
// one canonical text, written here once for both sides. It covers the whole document — the farm
// it is for, its kind, id and version, whether it withdraws the document, and the body — so a
// party in the transport path (a TLS-terminating proxy, a relay) can change none of them: not
// turn a document into a withdrawal, not relabel it as another kind or id, not send an old body
// under a newer version, not reuse one withdrawal's signature for another document, not send one
// farm's document to another farm's gateway. (The former scheme signed the body alone; the server
// re-signs what it stored under it, dashboard/downlink.ts.)
import { Type, type Static } from '@sinclair/typebox';

/** Names the signed text's layout; it is the text's first member, so no other text signed with
 * the key (a body signed alone under the former scheme) can pass for an envelope. */
export const DOWNLINK_SIGNED_AS = 'hatake-downlink-envelope/1';

/** Everything a downlink signature covers. */
export interface DownlinkEnvelope {
  farm: string;
  kind: string;
  id: string;
  /** The farm-wide version the server gave the document (1, 2, …). */
  version: number;
  /** True when the document withdraws an earlier one of its kind and id. */
  deleted: boolean;
  /** The body as JSON text, exactly as the server stored and sends it (signed byte for byte). */
  bodyJson: string;
}

/**
 * The text the server signs and the gateway verifies (UTF-8):
 * `{"signed":"hatake-downlink-envelope/1","farm":…,"kind":…,"id":…,"version":…,"deleted":…,"body":…}`
 * with the members in this order and the body's own JSON text as the last value. Every member
 * before the body is a JSON string, integer or boolean, each of which ends unambiguously, so two
 * different envelopes never give the same text. Throws a TypeError for a member of the wrong type
 * (a document off the wire that is not what the server sends).
 */
export function downlinkSigningText(e: DownlinkEnvelope): string {
  for (const key of ['farm', 'kind', 'id', 'bodyJson'] as const)
    if (typeof e[key] !== 'string') throw new TypeError(`downlink envelope: ${key} is not a string`);
  if (!Number.isSafeInteger(e.version) || e.version < 1)
    throw new TypeError('downlink envelope: version is not a positive integer');
  if (typeof e.deleted !== 'boolean') throw new TypeError('downlink envelope: deleted is not a boolean');
  return (
    `{"signed":${JSON.stringify(DOWNLINK_SIGNED_AS)},"farm":${JSON.stringify(e.farm)},` +
    `"kind":${JSON.stringify(e.kind)},"id":${JSON.stringify(e.id)},"version":${e.version},` +
    `"deleted":${e.deleted ? 'true' : 'false'},"body":${e.bodyJson}}`
  );
}

/** One document as GET /api/v1/downlink sends it (dashboard/routes/gateways.ts). */
export const DownlinkWireDocument = Type.Object({
  kind: Type.String(),
  id: Type.String(),
  version: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
  bodyJson: Type.String({
    description: 'The body as JSON text, byte for byte as signed (inside the envelope, protocol/downlink.ts)',
  }),
  signature: Type.Union([Type.String(), Type.Null()], {
    description: 'ed25519 (base64) over downlinkSigningText of {farm, kind, id, version, deleted, body}',
  }),
  deleted: Type.Boolean(),
});
export type DownlinkWireDocument = Static<typeof DownlinkWireDocument>;

/** The answer of GET /api/v1/downlink: the gateway's farm and its documents after `after`. */
export const DownlinkPage = Type.Object({
  farm: Type.String(),
  latest: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  documents: Type.Array(DownlinkWireDocument),
});
export type DownlinkPage = Static<typeof DownlinkPage>;
