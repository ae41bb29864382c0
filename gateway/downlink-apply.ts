// How the gateway applies each kind of downlink document. Every handler either applies the whole
// document or throws a HatakeError and changes nothing, so the last good version stays in use.
import { createHash } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  existsSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type ort from 'onnxruntime-node';
import { HatakeError, isHatakeError } from '../protocol/errors.ts';
import type { Kit } from '../protocol/kit.ts';
import { Registry } from '../protocol/registry.ts';
import { SceneDownlink } from '../protocol/imagery.ts';
import { validator } from '../protocol/validate.ts';
import type { Logger } from '../runtime/log.ts';
import { parseCard, sha256Hex } from '../edge/inference/registry.ts';
import { checkSessionAgainstCard } from '../edge/inference/session-check.ts';
import { writeFileAtomic } from '../firmware-config/provision.ts';
import { planAutomation } from './automations/plan.ts';
import type { DownlinkClient, DownlinkDoc } from './downlink-client.ts';
import { FieldStageDoc } from '../protocol/field-stage.ts';
import type { NewEvent } from './events.ts';
import type { GatewayStore } from './store.ts';
import type { FailedScene, SceneSidecar } from './imagery/inbox.ts';
import { MAX_SCENE_BYTES, sha256File } from './imagery/receiver.ts';

const registryValidator = validator(Registry);
const sceneValidator = validator(SceneDownlink);
const stageValidator = validator(FieldStageDoc);

/**
 * The `check` of stage documents (a growth stage recorded on the dashboard): the body must be a
 * stage of this farm, for the field the document is named after; the rules say whether the stage
 * fits the field's crop (an unknown one is a rule note, as in the manifest).
 */
export function stageCheck(farm: () => string) {
  return (doc: DownlinkDoc): void => {
    const body = stageValidator.parse(doc.body, `downlink stage ${doc.id}`, 'HATAKE_E_CONFIG');
    if (body.farm !== farm()) throw new HatakeError('HATAKE_E_FORBIDDEN', `stage for farm "${body.farm}"`);
    if (body.field !== doc.id)
      throw new HatakeError('HATAKE_E_CONFIG', `stage document ${doc.id} names field "${body.field}"`);
  };
}

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

/**
 * Documents the gateway keeps for its parts to read (automations, overrides, decisions, config).
 * `check`, when given, vets a document before it is kept (a withdrawal is never checked): it
 * throws a HatakeError to refuse it, and the version kept before stays.
 */
export function keepHandler(
  store: GatewayStore,
  onChange?: (doc: DownlinkDoc) => void,
  check?: (doc: DownlinkDoc) => void,
) {
  return async (doc: DownlinkDoc): Promise<string> => {
    const what = keepInStore(store, doc, check);
    onChange?.(doc);
    return what;
  };
}

/** What keepHandler does to the store before it tells anyone: vets, then keeps or removes. */
function keepInStore(store: GatewayStore, doc: DownlinkDoc, check?: (doc: DownlinkDoc) => void): string {
  if (!doc.deleted) check?.(doc);
  if (doc.deleted) store.deleteDocument(doc.kind, doc.id);
  else store.putDocument(doc.kind, doc.id, doc.version, doc.body, Date.now());
  return doc.deleted ? `${doc.kind} ${doc.id} removed` : `${doc.kind} ${doc.id} kept`;
}

/** An automation document switched off: the engine keeps it idle and runs nothing of it. */
const disabled = (body: unknown): boolean =>
  typeof body === 'object' && body !== null && (body as { enabled?: unknown }).enabled === false;

/**
 * The `check` of automation documents: each is planned as the engine will plan it (this gateway's
 * farm, its devices' kits), so one the gateway cannot run — a device it does not have, a kit
 * without the command — is refused with the planner's reason, which the server then shows the
 * farmer, instead of being kept and reported applied. The refusal keeps the version the gateway
 * had (it goes on running) and says so. A disabled automation runs nothing: always kept.
 */
export function automationCheck(
  store: GatewayStore,
  farm: string,
  kitOf: (device: string) => Kit | undefined,
) {
  const plans = (body: unknown): HatakeError | undefined => {
    try {
      planAutomation(body, farm, kitOf);
      return undefined;
    } catch (e) {
      return isHatakeError(e) ? e : new HatakeError('HATAKE_E_AUTOMATION', String(e));
    }
  };
  return (doc: DownlinkDoc): void => {
    if (disabled(doc.body)) return;
    const problem = plans(doc.body);
    if (!problem) return;
    const where = problem.place?.pointer;
    const reason = `${where && !problem.message.startsWith('/') ? `${where}: ` : ''}${problem.message}${
      problem.expected ? ` (expected ${problem.expected})` : ''
    }`;
    const before = store.documents<unknown>('automation').find((d) => d.id === doc.id);
    const v = (body: unknown) => {
      const n = (body as { version?: unknown } | null)?.version;
      return typeof n === 'number' ? ` (v${n})` : '';
    };
    const kept = !before
      ? 'no earlier version of it runs on this gateway'
      : disabled(before.body)
        ? `the previous version${v(before.body)} stays, disabled`
        : plans(before.body)
          ? `the previous version${v(before.body)} stays, and the gateway cannot run it either`
          : `the previous version${v(before.body)} keeps running`;
    throw new HatakeError(problem.code, `${reason}; ${kept}`, {
      ...(problem.place ? { place: problem.place } : {}),
      ...(problem.expected ? { expected: problem.expected } : {}),
      cause: problem,
    });
  };
}

/**
 * The documents kind under which the gateway remembers, per automation id, the last automation
 * document it refused (its body and downlink version): a row of the store's documents table that
 * no part reads as an automation, so it lasts across restarts without a table of its own.
 */
export const REFUSED_AUTOMATION = 'automation-refused';

/** Automation documents: kept when the gateway can run them, and looked at again when it can. */
export interface AutomationKeeper {
  /** The downlink handler: keepHandler with automationCheck, remembering the document it refuses. */
  handler: (doc: DownlinkDoc) => Promise<string>;
  /**
   * Plans each remembered refusal again, the gateway's devices having changed (`cause` says how):
   * one that now plans is kept as the handler keeps a document and reported `downlink_applied`;
   * one that still does not stays remembered and raises nothing. Returns the ids kept.
   */
  recheck: (cause: string) => string[];
}

export interface AutomationKeeperOptions {
  store: GatewayStore;
  farm: string;
  kitOf: (device: string) => Kit | undefined;
  /** Told of each automation document kept or removed (the engine re-reads the store). */
  onChange?: (doc: DownlinkDoc) => void;
  /** The gateway's events (EventLog.raise). */
  raise: (event: NewEvent) => unknown;
  /** Told when a recheck fails for another reason than a refusal (the disk). */
  log?: Pick<Logger, 'warn'>;
}

/**
 * The automation documents' handler and its second look. A refused document is remembered only
 * while it is the newest version the gateway has seen of that automation: any later version,
 * kept, refused (it takes the place) or withdrawn, forgets it. When the gateway's devices change
 * (a registry or manifest sent down, a start) the remembered ones are planned again, so an
 * automation refused for a valve the partner had not provisioned yet runs once it is, and the
 * farmer's page says applied, without the farmer saving it again.
 */
export function automationKeeper(o: AutomationKeeperOptions): AutomationKeeper {
  const { store } = o;
  const check = automationCheck(store, o.farm, o.kitOf);
  const keep = keepHandler(store, o.onChange, check);
  const handler = async (doc: DownlinkDoc): Promise<string> => {
    // Forgotten before the new version is looked at: a stop in between never leaves it beside a
    // newer version or a withdrawal (the new document is fetched again, its version not recorded).
    store.deleteDocument(REFUSED_AUTOMATION, doc.id);
    try {
      return await keep(doc);
    } catch (e) {
      if (isHatakeError(e) && !doc.deleted)
        store.putDocument(REFUSED_AUTOMATION, doc.id, doc.version, doc.body, Date.now());
      throw e;
    }
  };
  const recheck = (cause: string): string[] => {
    const refused = store.documents<unknown>(REFUSED_AUTOMATION);
    if (refused.length === 0) return [];
    const held = new Map(store.documents<unknown>('automation').map((d) => [d.id, d.version]));
    const kept: string[] = [];
    for (const r of refused) {
      const doc: DownlinkDoc = {
        kind: 'automation',
        id: r.id,
        version: r.version,
        body: r.body,
        deleted: false,
      };
      let what: string | undefined;
      try {
        // Kept, forgotten and reported together: never kept without the server being told.
        what = store.db.transaction(() => {
          // Not the newest any more (kept by a version after it, as a stop mid-way could leave it).
          if ((held.get(r.id) ?? -1) >= r.version) {
            store.deleteDocument(REFUSED_AUTOMATION, r.id);
            return undefined;
          }
          const w = keepInStore(store, doc, check); // throws the refusal again if it still does not plan
          store.deleteDocument(REFUSED_AUTOMATION, r.id);
          o.raise({
            type: 'downlink_applied',
            severity: 'info',
            message: `applied automation ${r.id} v${r.version} after the gateway's devices changed (${cause}): ${w}`,
            detail: { kind: 'automation', id: r.id, version: r.version },
          });
          return w;
        })();
      } catch (e) {
        if (!isHatakeError(e))
          o.log?.warn(
            { automation: r.id, version: r.version, err: (e as Error).message },
            'refused automation not checked again; it stays remembered',
          );
        continue;
      }
      if (what === undefined) continue;
      o.onChange?.(doc);
      kept.push(r.id);
    }
    return kept;
  };
  return { handler, recheck };
}

/** The imagery folder as the scene handler needs it (gateway/imagery/inbox.ts). */
export interface SceneInbox {
  /** The folder holding inbox/, done/ and failed/. */
  readonly dir: string;
  scan(): Promise<void>;
}

/**
 * A scene sent down: its GeoTIFF is fetched (streamed to disk, never whole in memory), checked
 * against the size and sha256 of the signed document, and dropped with a sidecar saying what the
 * document says into the imagery inbox, which processes it like any scene (stats, zones, maps,
 * synced back). A mismatch is refused for good and reported; a dropped connection is retried.
 * The sidecar names the document (id, version), so a scene that then fails processing is
 * reported too (`sceneFailureEvent`).
 */
export function sceneHandler(inbox: SceneInbox, maxBytes = MAX_SCENE_BYTES) {
  return async (doc: DownlinkDoc, client: DownlinkClient): Promise<string> => {
    if (doc.deleted) return `scene ${doc.id} withdrawn (results already made are kept)`;
    const scene = sceneValidator.parse(doc.body, `downlink scene ${doc.id}`, 'HATAKE_E_IMAGERY_TRANSFER');
    const refuse = (reason: string) =>
      new HatakeError('HATAKE_E_IMAGERY_TRANSFER', `scene ${doc.id}: ${reason}`);
    if (scene.sceneId !== doc.id) throw refuse(`the document describes scene "${scene.sceneId}"`);
    if (scene.size > maxBytes)
      throw refuse(`${scene.size} bytes exceeds the gateway's limit of ${maxBytes} bytes`);
    const name = `${scene.sceneId}.tif`;
    const dir = join(inbox.dir, 'inbox');
    const sidecar: SceneSidecar = { ...sidecarOf(scene), downlink: { id: doc.id, version: doc.version } };
    const sidecarFile = (d: string) => join(inbox.dir, d, `${scene.sceneId}.hatake.json`);
    const same = async (f: string) =>
      existsSync(f) && statSync(f).size === scene.size && (await sha256File(f)) === scene.sha256;
    // Sent again — after a restart before its version was recorded, or with corrected metadata
    // (an offset, band numbers): the file is here already; process it again only if it changed.
    if (await same(join(inbox.dir, 'done', name))) {
      if (readJson(sidecarFile('done')) === JSON.stringify(sidecarOf(scene)))
        return `scene ${scene.sceneId} already received and processed`;
      writeFileAtomic(sidecarFile('inbox'), JSON.stringify(sidecar), 0o644);
      renameSync(join(inbox.dir, 'done', name), join(dir, name));
      void inbox.scan();
      return `scene ${scene.sceneId} queued for processing again with its new description`;
    }
    if (await same(join(dir, name))) {
      writeFileAtomic(sidecarFile('inbox'), JSON.stringify(sidecar), 0o644);
      void inbox.scan();
      return `scene ${scene.sceneId} already received; queued for processing`;
    }
    // At 50 kB/s at least: a farm's link is slow, but a stalled download must end.
    const res = await client.get(`/api/v1/downlink/scenes/${scene.sha256}`, {
      timeoutMs: 60_000 + Math.ceil(scene.size / 50),
    });
    if (res.status === 404) throw refuse(`the server has no file ${scene.sha256}`);
    if (res.status !== 200 || !res.body) throw new Error(`scene download: HTTP ${res.status}`); // retried
    const part = join(dir, `.${name}.part`); // not *.tif: the inbox does not take it yet
    const hash = createHash('sha256');
    let size = 0;
    try {
      await pipeline(
        Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            size += chunk.length;
            if (size > scene.size)
              return done(refuse(`the server sent more than the signed ${scene.size} bytes`));
            hash.update(chunk);
            done(null, chunk);
          },
        }),
        createWriteStream(part),
      );
      const actual = hash.digest('hex');
      if (size !== scene.size)
        throw refuse(`the file is ${size} bytes, the signed document says ${scene.size}`);
      if (actual !== scene.sha256)
        throw refuse(`file sha256 ${actual} does not match the signed document's ${scene.sha256}`);
      const fd = openSync(part, 'r');
      try {
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      // The sidecar first: the inbox takes a scene by its .tif and reads the sidecar beside it.
      writeFileAtomic(sidecarFile('inbox'), JSON.stringify(sidecar), 0o644);
      renameSync(part, join(dir, name));
    } finally {
      rmSync(part, { force: true });
    }
    void inbox.scan();
    return `scene ${scene.sceneId} (${scene.size} bytes, sha256 verified) queued for processing`;
  };
}

/**
 * The event that tells the server a scene sent down could not be processed (a corrupt file, no
 * band the profile needs, fields outside it, …): a `downlink_refused` about the scene's document,
 * as the downlink client reports a document it refuses. Nothing for a scene dropped in locally.
 */
export function sceneFailureEvent(f: FailedScene): NewEvent | undefined {
  if (!f.downlink) return undefined;
  const { id, version } = f.downlink;
  const reason = f.reason.length > 500 ? `${f.reason.slice(0, 499)}…` : f.reason;
  return {
    type: 'downlink_refused',
    severity: 'warning',
    message: `scene ${id} v${version} could not be processed: ${reason}`,
    detail: { kind: 'scene', id, version, code: f.code, reason },
  };
}

/** What the inbox is told about a scene sent down: the signed document's description. */
function sidecarOf(scene: SceneDownlink): SceneSidecar {
  return {
    sceneId: scene.sceneId,
    acquired: scene.acquired,
    profile: scene.profile,
    ...(scene.bands
      ? {
          bands: Object.entries(scene.bands)
            .map(([role, n]) => `${role}=${n}`)
            .join(','),
        }
      : {}),
    ...(scene.index !== undefined ? { index: scene.index } : {}),
    ...(scene.offset !== undefined ? { offset: scene.offset } : {}),
    ...(scene.scale !== undefined ? { scale: scene.scale } : {}),
  };
}

/**
 * A sidecar's description re-serialised (for comparing), without the document it came with
 * (a new version of the same description changes nothing to process), or undefined.
 */
function readJson(file: string): string | undefined {
  try {
    const { downlink: _, ...description } = JSON.parse(readFileSync(file, 'utf8')) as SceneSidecar;
    return JSON.stringify(description);
  } catch {
    return undefined;
  }
}
