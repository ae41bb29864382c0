// How the gateway applies each kind of downlink document. Every handler either applies the whole
// document or throws a HatakeError and changes nothing, so the last good version stays in use.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import { HatakeError } from '../protocol/errors.ts';
import { Registry } from '../protocol/registry.ts';
import { validator } from '../protocol/validate.ts';
import { parseCard, sha256Hex } from '../edge/inference/registry.ts';
import { checkSessionAgainstCard } from '../edge/inference/session-check.ts';
import { writeFileAtomic } from '../firmware-config/provision.ts';
import type { DownlinkClient, DownlinkDoc } from './downlink-client.ts';
import type { GatewayStore } from './store.ts';

const registryValidator = validator(Registry);

/** A model sent down: fetch its artifact, check sha256 and that it loads and matches its card. */
export function modelHandler(modelsDir: string, store: GatewayStore) {
  return async (doc: DownlinkDoc, client: DownlinkClient): Promise<string> => {
    const body = doc.body as { id?: unknown; version?: unknown; sha256?: unknown; card?: unknown };
    const card = parseCard(JSON.stringify(body.card ?? null), `downlink model ${doc.id}`);
    if (body.sha256 !== card.sha256)
      throw new HatakeError(
        'HATAKE_E_MODEL_INTEGRITY',
        `document sha256 ${String(body.sha256)} is not the card's ${card.sha256}`,
      );
    const res = await client.get(`/api/v1/downlink/artifacts/${card.sha256}`);
    if (res.status === 404)
      throw new HatakeError('HATAKE_E_MODEL_NOT_FOUND', `the server has no artifact ${card.sha256}`);
    if (res.status !== 200) throw new Error(`artifact download: HTTP ${res.status}`); // transient: retried
    const bytes = new Uint8Array(await res.arrayBuffer());
    const actual = sha256Hex(bytes);
    if (actual !== card.sha256) {
      throw new HatakeError(
        'HATAKE_E_MODEL_INTEGRITY',
        `artifact sha256 ${actual} does not match the signed card's ${card.sha256}`,
      );
    }
    let session: ort.InferenceSession;
    try {
      const { InferenceSession } = (await import('onnxruntime-node')).default;
      session = await InferenceSession.create(bytes);
    } catch (e) {
      throw new HatakeError(
        'HATAKE_E_MODEL_CORRUPT',
        `artifact does not load: ${(e as Error).message.slice(0, 200)}`,
      );
    }
    try {
      checkSessionAgainstCard(card, session);
    } finally {
      await session.release();
    }
    mkdirSync(modelsDir, { recursive: true });
    const base = join(modelsDir, `${card.id}@${card.version}`);
    writeFileAtomic(`${base}.onnx`, bytes, 0o644);
    writeFileAtomic(`${base}.card.json`, JSON.stringify(card, null, 2), 0o644);
    store.putDocument(
      'model',
      card.id,
      doc.version,
      { id: card.id, version: card.version, sha256: card.sha256 },
      Date.now(),
    );
    return `model ${card.id}@${card.version} installed`;
  };
}

/** A new device registry: validated, for this farm, then swapped in atomically (the broker re-reads it). */
export function registryHandler(registryFile: string, farm: string, reload: () => boolean) {
  return async (doc: DownlinkDoc): Promise<string> => {
    const reg = registryValidator.parse(doc.body, 'downlink registry', 'HATAKE_E_CONFIG');
    if (reg.farm !== farm)
      throw new HatakeError(
        'HATAKE_E_FORBIDDEN',
        `registry for farm "${reg.farm}" sent to a gateway of "${farm}"`,
      );
    writeFileAtomic(registryFile, JSON.stringify(reg, null, 2));
    if (!reload())
      throw new HatakeError('HATAKE_E_CONFIG', 'the new registry did not load; the previous one stays');
    return `registry with ${reg.devices.length} devices`;
  };
}

/** A new farm manifest: checked (by the caller's `apply`) then written for the next start. */
export function manifestHandler(dataDir: string, apply: (manifest: unknown) => string) {
  return async (doc: DownlinkDoc): Promise<string> => {
    const what = apply(doc.body); // throws a HatakeError if the manifest is not valid here
    const dir = join(dataDir, 'downlink');
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'manifest.json.tmp'), JSON.stringify(doc.body));
    writeFileAtomic(join(dir, 'manifest.json'), JSON.stringify(doc.body, null, 2));
    return what;
  };
}

/** Documents the gateway keeps for its parts to read (automations, overrides, decisions, config). */
export function keepHandler(store: GatewayStore, onChange?: (doc: DownlinkDoc) => void) {
  return async (doc: DownlinkDoc): Promise<string> => {
    if (doc.deleted) store.deleteDocument(doc.kind, doc.id);
    else store.putDocument(doc.kind, doc.id, doc.version, doc.body, Date.now());
    onChange?.(doc);
    return doc.deleted ? `${doc.kind} ${doc.id} removed` : `${doc.kind} ${doc.id} kept`;
  };
}
