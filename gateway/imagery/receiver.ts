// The gateway's end of "imagery over MQTT": a scene arrives as a manifest and raw chunks under
// hatake/v1/{farm}/imagery/{sceneId}/…, is reassembled on disk (resumable across a restart: the
// partial file and a one-byte-per-chunk bitmap are kept, each chunk made durable before it is
// marked), verified (size, sha256), refused with a reason when it does not match, and processed
// with edge/imagery. Answers go out as `status` events (for …/{sceneId}/status); results as
// `result` events. Messages are handled one at a time, in arrival order; a message is done (and
// may be acknowledged) once it is on disk — a complete scene is then processed on a queue of its
// own, so a long processing run never holds the sender's acknowledgement (an MQTT client blocked
// in its message handler cannot even read its broker's PINGRESP). A manifest of profile `index`
// sends an already derived index raster: `index` names the index its one band holds. A scene is
// processed for the farm's fields it covers; its `processed` status names those it does not cover.
// A transfer that hears nothing (no manifest, chunk or end) for `transferExpiryMs` — a sender that
// gave up — expires: its files are deleted, its slot freed, and it is told as an `expired` event
// and a `refused` status; after a restart the transfers left on disk are judged by their files'
// last change, so one abandoned before the restart expires too.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  existsSync,
  fdatasyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  BAND_ROLES,
  SceneManifest,
  type BandRole,
  type SceneStats,
  type SensorProfile,
  type TransferStatus,
  type ZoneCollection,
} from '../../protocol/imagery.ts';
import { validator } from '../../protocol/validate.ts';
import { isId } from '../../protocol/ids.ts';
import { isHatakeError } from '../../protocol/errors.ts';
import { derivedIndex, profileById } from '../../edge/imagery/profiles.ts';
import type { Scene } from '../../edge/imagery/scene.ts';
import type { FieldInput } from '../../edge/imagery/fields.ts';
import { coverageText } from './inbox.ts';

export interface ImageryReceiverOptions {
  /** Where transfers, received scenes and results live (created if missing). */
  dir: string;
  /** The farm's field boundaries (WGS84) at the time a scene is processed. */
  fields: () => readonly FieldInput[];
  /** Largest scene accepted (default MAX_SCENE_BYTES, 512 MiB). */
  maxSceneBytes?: number;
  /** Largest chunk accepted; keep it within the broker's packet limit (default 1 MiB). */
  maxChunkBytes?: number;
  /** Transfers that may be in progress at once (default 4). */
  maxTransfers?: number;
  /**
   * A transfer that hears no message (manifest, chunk or end) for this long is dropped and its
   * files deleted (default 24 h: a flaky uplink may take hours to resume, and a transfer is kept
   * across restarts for it).
   */
  transferExpiryMs?: number;
  /** Extra sensor profiles beyond the built-in ones. */
  profiles?: readonly SensorProfile[];
  /** Write heatmap PNGs (default true). */
  maps?: boolean;
}

/** A processed scene. */
export interface ImageryResult {
  sceneId: string;
  manifest: SceneManifest;
  /** The received GeoTIFF. */
  file: string;
  /** Directory holding stats.json, zones.geojson and maps/. */
  outDir: string;
  stats: SceneStats;
  zones: ZoneCollection;
  /** The farm's fields the scene does not cover (no pixel centre in the raster): not processed. */
  uncovered: string[];
  /** Per processed field, the share of its pixels inside the raster (1: wholly inside). */
  coverage: Record<string, number>;
}

/** A transfer dropped for hearing nothing for too long. */
export interface ExpiredTransfer {
  sceneId: string;
  /** Chunks received of chunkCount. */
  received: number;
  chunkCount: number;
  /** How long it had heard nothing, ms. */
  idleMs: number;
}

export interface ImageryReceiverEvents {
  /** Publish `status` (JSON) to hatake/v1/{farm}/imagery/{sceneId}/status. */
  status: [status: TransferStatus];
  result: [result: ImageryResult];
  /** A message that cannot be answered (its topic names no valid scene): for the log. */
  invalid: [topicSuffix: string, reason: string];
  /** Processing a verified scene failed for a reason other than the scene (a disk, a bug): for the log. */
  fault: [sceneId: string, err: Error];
  /** A transfer expired (nothing heard for transferExpiryMs): its files are gone. For the log and events. */
  expired: [transfer: ExpiredTransfer];
}

/** The largest scene a gateway takes by default, over MQTT or sent down from the server. */
export const MAX_SCENE_BYTES = 512 * 1024 * 1024;

/** How long a transfer may hear nothing before it expires, by default: 24 h. */
export const TRANSFER_EXPIRY_MS = 24 * 3600_000;

const manifestCheck = validator(SceneManifest);
const MAX_MISSING_LISTED = 1000;

interface Transfer {
  manifest: SceneManifest;
  dir: string;
  fd: number;
  have: Uint8Array;
  haveFd: number;
  received: number;
  /** When it last heard a message (epoch ms; after a restart, its files' last change). */
  lastHeard: number;
}

export class ImageryReceiver extends EventEmitter<ImageryReceiverEvents> {
  readonly dir: string;
  private readonly opts: Required<Omit<ImageryReceiverOptions, 'profiles'>> & {
    profiles: readonly SensorProfile[];
  };
  private readonly transfers = new Map<string, Transfer>();
  private queue: Promise<void> = Promise.resolve();
  /** Complete, verified scenes waiting for (or in) processing, one at a time. */
  private processing: Promise<void> = Promise.resolve();
  private readonly inProcessing = new Set<string>();
  /** Counters by outcome, for /metrics and the status page. */
  readonly counters = {
    manifests: 0,
    chunks: 0,
    duplicates: 0,
    refused: 0,
    processed: 0,
    failed: 0,
    expired: 0,
  };
  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: ImageryReceiverOptions) {
    super();
    this.dir = opts.dir;
    this.opts = {
      maxSceneBytes: MAX_SCENE_BYTES,
      maxChunkBytes: 1024 * 1024,
      maxTransfers: 4,
      transferExpiryMs: TRANSFER_EXPIRY_MS,
      maps: true,
      profiles: [],
      ...opts,
    };
    mkdirSync(join(this.dir, 'transfers'), { recursive: true });
    mkdirSync(join(this.dir, 'scenes'), { recursive: true });
    mkdirSync(join(this.dir, 'results'), { recursive: true });
    // Expired transfers are looked for a few times per expiry period (at most every 10 minutes),
    // and before a new transfer is counted against the limit. Never keeps the process alive.
    const every = Math.min(Math.max(Math.floor(this.opts.transferExpiryMs / 4), 1000), 600_000);
    this.sweeper = setInterval(() => this.expireSoon(), every);
    this.sweeper.unref();
  }

  /**
   * Handles one message whose topic was hatake/v1/{farm}/imagery/{topicSuffix}. Never throws
   * for bad input (it answers with a status); rejects only when the disk fails, in which case
   * the message should not be acknowledged.
   */
  handle(topicSuffix: string, payload: Buffer): Promise<void> {
    const run = this.queue.then(() => this.handleNow(topicSuffix, payload));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Waits for every message handed in so far, and for the processing of every scene completed. */
  async idle(): Promise<void> {
    await this.queue;
    await this.processing;
  }

  /** Closes open transfer files (their state stays on disk for a restart). */
  close(): void {
    clearInterval(this.sweeper);
    for (const t of this.transfers.values()) this.closeTransfer(t);
    this.transfers.clear();
  }

  /** Looks for expired transfers after the messages handed in so far (one at a time with them). */
  private expireSoon(): void {
    const run = this.queue.then(() => this.expireIdle(Date.now()));
    this.queue = run.catch(() => undefined);
  }

  /**
   * Drops every transfer that has heard nothing for transferExpiryMs — in memory, or only on disk
   * (left by a run before a restart, judged by its files' last change) — deleting its files;
   * except `keep`, the scene whose manifest has just arrived (its sender is back: it resumes).
   */
  private expireIdle(now: number, keep?: string): void {
    const limit = this.opts.transferExpiryMs;
    let names: string[];
    try {
      names = readdirSync(join(this.dir, 'transfers'));
    } catch {
      return; // the folder is gone (a test's, removed); nothing to expire
    }
    for (const sceneId of new Set([...this.transfers.keys(), ...names])) {
      if (sceneId === keep) continue;
      const t = this.transfers.get(sceneId);
      const dir = join(this.dir, 'transfers', sceneId);
      let lastHeard: number;
      if (t) lastHeard = t.lastHeard;
      else {
        lastHeard = lastChange(dir);
        if (!Number.isFinite(lastHeard)) continue; // gone meanwhile
      }
      const idleMs = now - lastHeard;
      if (idleMs < limit) continue;
      let received = t?.received ?? 0;
      let chunkCount = t?.manifest.chunkCount ?? 0;
      if (t) this.closeTransfer(t);
      else {
        try {
          const have = readFileSync(join(dir, 'have'));
          chunkCount = have.length;
          received = have.reduce((a, b) => a + (b ? 1 : 0), 0);
        } catch {
          // a transfer folder without its bitmap: nothing received that could be used
        }
      }
      this.transfers.delete(sceneId);
      rmSync(dir, { recursive: true, force: true });
      this.counters.expired++;
      this.emit('expired', { sceneId, received, chunkCount, idleMs });
      if (isId(sceneId)) {
        this.status({
          sceneId,
          state: 'refused',
          code: 'HATAKE_E_IMAGERY_TRANSFER',
          reason: `transfer expired: nothing heard for ${hours(idleMs)} (limit ${hours(limit)}) with ${received} of ${chunkCount} chunks received; its files were deleted — send the manifest again to start over`,
          received,
          chunkCount,
        });
      }
    }
  }

  private async handleNow(suffix: string, payload: Buffer): Promise<void> {
    const parts = suffix.split('/');
    // Our own answers come back when subscribed to '#': never answer a status (no loops).
    if (parts[parts.length - 1] === 'status') return;
    const sceneId = parts[0] ?? '';
    if (!isId(sceneId)) {
      // No status topic can be formed for it, so it is only counted and reported for the log.
      this.counters.refused++;
      this.emit('invalid', suffix.slice(0, 200), 'the topic does not name a valid scene id');
      return;
    }
    const kind = parts.slice(1).join('/');
    if (kind === 'manifest') return this.onManifest(sceneId, payload);
    if (kind === 'end') return this.onEnd(sceneId);
    const m = /^chunk\/(\d{1,7})$/.exec(kind);
    if (m) return this.onChunk(sceneId, Number(m[1]), payload);
    this.refuse(sceneId, `unknown imagery message "${kind.slice(0, 64)}"`);
  }

  private async onManifest(sceneId: string, payload: Buffer): Promise<void> {
    this.counters.manifests++;
    let manifest: SceneManifest;
    try {
      if (payload.length > 64 * 1024) throw new Error(`manifest of ${payload.length} bytes (limit 65536)`);
      manifest = manifestCheck.parse(JSON.parse(payload.toString('utf8')), 'scene manifest');
    } catch (e) {
      this.refuse(sceneId, `bad manifest: ${(e as Error).message}`.slice(0, 1000));
      return;
    }
    const refuse = (reason: string) => this.refuse(sceneId, reason);
    if (manifest.sceneId !== sceneId)
      return refuse(`manifest is for scene "${manifest.sceneId}", sent on "${sceneId}"`);
    if (manifest.size > this.opts.maxSceneBytes)
      return refuse(`scene of ${manifest.size} bytes exceeds the limit of ${this.opts.maxSceneBytes}`);
    if (manifest.chunkSize > this.opts.maxChunkBytes) {
      return refuse(`chunk size ${manifest.chunkSize} exceeds the limit of ${this.opts.maxChunkBytes} bytes`);
    }
    const expectedChunks = Math.ceil(manifest.size / manifest.chunkSize);
    if (manifest.chunkCount !== expectedChunks) {
      return refuse(
        `chunkCount ${manifest.chunkCount} does not match size ${manifest.size} / chunkSize ${manifest.chunkSize} (expected ${expectedChunks})`,
      );
    }
    let derived;
    try {
      derived = derivedIndex(profileById(manifest.profile, this.opts.profiles), manifest.index);
    } catch (e) {
      return refuse(
        isHatakeError(e) && e.expected ? `${e.message} (expected ${e.expected})` : (e as Error).message,
      );
    }
    if (derived && Object.keys(manifest.bands ?? {}).length > 0) {
      return refuse(`band roles were given for an index raster (its one band is ${derived.name})`);
    }
    for (const role of Object.keys(manifest.bands ?? {})) {
      if (!(BAND_ROLES as readonly string[]).includes(role)) return refuse(`unknown band role "${role}"`);
    }
    const done = join(this.dir, 'scenes', `${sceneId}.json`);
    if (existsSync(done)) {
      const prev = JSON.parse(readFileSync(done, 'utf8')) as SceneManifest;
      if (prev.sha256 === manifest.sha256) {
        const busy = this.inProcessing.has(sceneId);
        this.status({
          sceneId,
          state: busy ? 'receiving' : 'processed',
          reason: busy ? 'received in full; being processed' : 'already received and processed',
          chunkCount: manifest.chunkCount,
          received: manifest.chunkCount,
          ...(busy ? { missing: [] } : {}),
        });
        return;
      }
    }
    this.expireIdle(Date.now(), sceneId);
    const existing = this.load(sceneId);
    if (existing && isDeepStrictEqual(existing.manifest, manifest)) {
      this.heard(existing, true);
      this.receiving(existing); // resume: tell the sender what is still missing
      return;
    }
    if (existing) this.drop(existing);
    if (this.transfers.size >= this.opts.maxTransfers) {
      return refuse(`${this.transfers.size} transfers already in progress (limit ${this.opts.maxTransfers})`);
    }
    const dir = join(this.dir, 'transfers', sceneId);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const fd = openSync(join(dir, 'data.part'), 'w+');
    ftruncateSync(fd, manifest.size);
    const haveFd = openSync(join(dir, 'have'), 'w+');
    const have = new Uint8Array(manifest.chunkCount);
    writeSync(haveFd, have, 0, have.length, 0);
    fdatasyncSync(haveFd);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const t: Transfer = { manifest, dir, fd, have, haveFd, received: 0, lastHeard: Date.now() };
    this.transfers.set(sceneId, t);
    this.receiving(t);
  }

  private async onChunk(sceneId: string, n: number, payload: Buffer): Promise<void> {
    this.counters.chunks++;
    const t = this.load(sceneId);
    if (!t) {
      // A QoS 1 redelivery of a chunk of a scene already complete (its acknowledgement was lost
      // with a connection): a duplicate, not an error.
      if (this.inProcessing.has(sceneId) || existsSync(join(this.dir, 'scenes', `${sceneId}.json`))) {
        this.counters.duplicates++;
        return;
      }
      this.refuse(sceneId, `chunk ${n} for a scene with no manifest (send the manifest first)`);
      return;
    }
    this.heard(t, false);
    const m = t.manifest;
    if (n >= m.chunkCount) {
      this.refuse(sceneId, `chunk ${n} is beyond the manifest's ${m.chunkCount} chunks`);
      this.drop(t);
      return;
    }
    const expected = n === m.chunkCount - 1 ? m.size - n * m.chunkSize : m.chunkSize;
    if (payload.length !== expected) {
      this.refuse(sceneId, `chunk ${n} has ${payload.length} bytes, the manifest says ${expected}`);
      this.drop(t);
      return;
    }
    if (t.have[n]) {
      this.counters.duplicates++;
      return;
    }
    // Data first and durable, then the mark: after a crash a marked chunk is really there.
    writeSync(t.fd, payload, 0, payload.length, n * m.chunkSize);
    fdatasyncSync(t.fd);
    t.have[n] = 1;
    writeSync(t.haveFd, t.have, n, 1, n);
    t.received++;
    if (t.received === m.chunkCount) await this.finish(t);
  }

  private async onEnd(sceneId: string): Promise<void> {
    const t = this.load(sceneId);
    if (!t) {
      if (!existsSync(join(this.dir, 'scenes', `${sceneId}.json`)))
        this.refuse(sceneId, 'end of a scene with no manifest');
      return;
    }
    this.heard(t, true);
    if (t.received < t.manifest.chunkCount) {
      const missing = this.missing(t);
      this.status({
        sceneId,
        state: 'incomplete',
        code: 'HATAKE_E_IMAGERY_TRANSFER',
        reason: `${t.manifest.chunkCount - t.received} of ${t.manifest.chunkCount} chunks missing (${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}); resend them`,
        received: t.received,
        chunkCount: t.manifest.chunkCount,
        missing,
      });
    }
  }

  private async finish(t: Transfer): Promise<void> {
    const m = t.manifest;
    fdatasyncSync(t.haveFd);
    this.closeTransfer(t);
    this.transfers.delete(m.sceneId);
    const part = join(t.dir, 'data.part');
    const size = statSync(part).size;
    const sha = await sha256File(part);
    if (size !== m.size || sha !== m.sha256) {
      rmSync(t.dir, { recursive: true, force: true });
      this.refuse(
        m.sceneId,
        size !== m.size
          ? `size mismatch: manifest says ${m.size} bytes, received ${size}`
          : `sha256 mismatch: manifest says ${m.sha256}, received file hashes to ${sha}`,
      );
      return;
    }
    const file = join(this.dir, 'scenes', `${m.sceneId}.tif`);
    renameSync(part, file);
    writeFileSync(join(this.dir, 'scenes', `${m.sceneId}.json`), JSON.stringify(m));
    rmSync(t.dir, { recursive: true, force: true });
    this.inProcessing.add(m.sceneId);
    this.processing = this.processing
      .then(() => this.process(m, file))
      .catch(() => undefined) // a throwing listener must not stop the scenes after this one
      .finally(() => this.inProcessing.delete(m.sceneId));
  }

  /** Processes a received, verified scene; every outcome is answered with a status. */
  private async process(m: SceneManifest, file: string): Promise<void> {
    const outDir = join(this.dir, 'results', m.sceneId);
    let scene: Scene | undefined;
    try {
      // The imaging stack (geotiff, sharp) loads when a scene arrives, not with the gateway.
      const { Scene } = await import('../../edge/imagery/scene.ts');
      const { processScene } = await import('../../edge/imagery/process.ts');
      scene = await Scene.open({
        files: [file],
        profile: profileById(m.profile, this.opts.profiles),
        bands: m.bands as Partial<Record<BandRole, number>> | undefined,
        index: m.index,
        offset: m.offset,
        offsetFrom: m.offset !== undefined ? 'manifest' : undefined,
        scale: m.scale,
        sceneId: m.sceneId,
        acquired: new Date(m.acquired).toISOString(),
      });
      // The fields the scene does not cover are named, not an error: a scene may show part of the farm.
      const { stats, zones, uncovered, coverage } = await processScene(scene, this.opts.fields(), {
        outDir,
        maps: this.opts.maps,
        skipUncovered: true,
      });
      this.counters.processed++;
      const processed = Object.keys(stats.fields).length;
      const note = coverageText(uncovered, coverage, 900);
      this.status({
        sceneId: m.sceneId,
        state: 'processed',
        received: m.chunkCount,
        chunkCount: m.chunkCount,
        ...(note
          ? { reason: `processed for ${processed} of ${processed + uncovered.length} fields; ${note}` }
          : {}),
      });
      this.emit('result', {
        sceneId: m.sceneId,
        manifest: m,
        file,
        outDir,
        stats,
        zones,
        uncovered,
        coverage,
      });
    } catch (e) {
      // A bad scene is a HatakeError; anything else (a full disk writing the maps) is told too,
      // since the transfer was acknowledged and nobody else would hear of it.
      this.counters.failed++;
      this.status({
        sceneId: m.sceneId,
        state: 'failed',
        code: isHatakeError(e) ? e.code : 'HATAKE_E_INTERNAL',
        reason: isHatakeError(e)
          ? e.describe().slice(0, 1000)
          : 'processing failed on the gateway (see its log)',
      });
      if (!isHatakeError(e)) this.emit('fault', m.sceneId, e as Error);
    } finally {
      await scene?.close();
    }
  }

  /** The transfer in memory, or reloaded from disk after a restart. */
  private load(sceneId: string): Transfer | undefined {
    const t = this.transfers.get(sceneId);
    if (t) return t;
    const dir = join(this.dir, 'transfers', sceneId);
    try {
      const manifest = manifestCheck.parse(
        JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')),
        'stored manifest',
      );
      const have = new Uint8Array(readFileSync(join(dir, 'have')));
      if (have.length !== manifest.chunkCount || statSync(join(dir, 'data.part')).size !== manifest.size)
        return undefined;
      const t2: Transfer = {
        manifest,
        dir,
        fd: openSync(join(dir, 'data.part'), 'r+'),
        have,
        haveFd: openSync(join(dir, 'have'), 'r+'),
        received: have.reduce((a, b) => a + (b ? 1 : 0), 0),
        lastHeard: lastChange(dir),
      };
      this.transfers.set(sceneId, t2);
      return t2;
    } catch {
      return undefined;
    }
  }

  private missing(t: Transfer): number[] {
    const out: number[] = [];
    for (let i = 0; i < t.have.length && out.length < MAX_MISSING_LISTED; i++) if (!t.have[i]) out.push(i);
    return out;
  }

  private receiving(t: Transfer): void {
    this.status({
      sceneId: t.manifest.sceneId,
      state: 'receiving',
      received: t.received,
      chunkCount: t.manifest.chunkCount,
      missing: this.missing(t),
    });
  }

  /**
   * A message for the transfer arrived: it has not been abandoned. `persist` records it on disk too
   * (a chunk changes the bitmap, which records it by itself), so a restart does not expire it early.
   */
  private heard(t: Transfer, persist: boolean): void {
    t.lastHeard = Date.now();
    if (!persist) return;
    try {
      const at = new Date(t.lastHeard);
      utimesSync(join(t.dir, 'have'), at, at);
    } catch {
      // the time in memory holds until a restart
    }
  }

  private closeTransfer(t: Transfer): void {
    try {
      closeSync(t.fd);
      closeSync(t.haveFd);
    } catch {
      // already closed
    }
  }

  private drop(t: Transfer): void {
    this.closeTransfer(t);
    this.transfers.delete(t.manifest.sceneId);
    rmSync(t.dir, { recursive: true, force: true });
  }

  private refuse(sceneId: string, reason: string): void {
    this.counters.refused++;
    this.status({ sceneId, state: 'refused', code: 'HATAKE_E_IMAGERY_TRANSFER', reason });
  }

  private status(s: Omit<TransferStatus, 'time'>): void {
    this.emit('status', { ...s, time: Date.now() });
  }
}

/** When a transfer's files last changed (its bitmap, or its manifest), epoch ms; NaN when gone. */
function lastChange(dir: string): number {
  let last = NaN;
  for (const name of ['have', 'manifest.json']) {
    try {
      const t = statSync(join(dir, name)).mtimeMs;
      if (!(t <= last)) last = t;
    } catch {
      // not there
    }
  }
  if (Number.isNaN(last)) {
    try {
      last = statSync(dir).mtimeMs;
    } catch {
      // the folder is gone
    }
  }
  return last;
}

/** A duration for a message: "26 h", "45 min" or "3 s". */
function hours(ms: number): string {
  if (ms >= 2 * 3600_000) return `${Math.floor(ms / 3600_000)} h`;
  if (ms >= 2 * 60_000) return `${Math.floor(ms / 60_000)} min`;
  return `${Math.floor(ms / 1000)} s`;
}

/** The sha256 (hex) of a file, streamed. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}
