// The gateway's imagery folder: a GeoTIFF/COG dropped into `inbox/` (with a STAC item or a
// `.hatake.json` sidecar naming its sensor profile and bands) is processed for the farm's fields,
// then moved to `done/` (or `failed/` with the reason beside it). Polled, because inotify does not
// work on every card or network share a farm may use. Scenes the server sends down are written
// here too (gateway/downlink-apply.ts), file and sidecar, and processed the same way; their
// sidecar names the signed document, so a failure to process one can be reported to the server.
// A sidecar of profile `index` (with `index`: the index its one band holds) describes a raster of
// an index derived elsewhere. A scene is processed for the farm's fields it covers: one that shows
// part of the farm (a provider's clip, a farm across two tiles) names the fields it does not cover
// (in the result and the log), and fails only when it covers none.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { HatakeError, isHatakeError, type ErrorCode } from '../../protocol/errors.ts';
import { isId } from '../../protocol/ids.ts';
import type { SceneStats, ZoneCollection } from '../../protocol/imagery.ts';
import type { FieldInput } from '../../edge/imagery/fields.ts';
import type { Scene } from '../../edge/imagery/scene.ts';
import type { Logger } from '../../runtime/log.ts';

/** What a sidecar `<scene>.hatake.json` may say about a scene. */
export interface SceneSidecar {
  profile?: string;
  bands?: string;
  /** For profile `index` (and only it): the index the raster's one band holds, e.g. "ndvi". */
  index?: string;
  offset?: number;
  /** Radiometric scale, when not the profile's. */
  scale?: number;
  sceneId?: string;
  acquired?: string;
  /**
   * The signed downlink document the scene came with (written by gateway/downlink-apply.ts):
   * a failure to process it is reported to the server. Absent for scenes dropped in locally.
   */
  downlink?: SceneOrigin;
}

/** The downlink document a scene came with: its id and version. */
export interface SceneOrigin {
  id: string;
  version: number;
}

/** A scene the inbox could not process (moved to failed/ with its reason beside it). */
export interface FailedScene {
  /** The file's name, now in failed/. */
  file: string;
  code: ErrorCode;
  /** What was wrong, without the gateway's own paths (the reason file has them). */
  reason: string;
  /** Set when the scene came by downlink. */
  downlink?: SceneOrigin;
}

export interface ProcessedScene {
  sceneId: string;
  acquired: string;
  stats: SceneStats;
  zones: ZoneCollection;
  outDir: string;
  /** The farm's fields the scene does not cover (no pixel centre in the raster): not processed. */
  uncovered?: string[];
  /** Per processed field, the share of its pixels inside the raster (1: wholly inside). */
  coverage?: Record<string, number>;
}

/**
 * A scene's coverage of the farm in words — `not covered by this scene: "a", "b"; partly covered:
 * "c" 24 %` — or '' when it covers every field whole. At most `max` characters (a status reason).
 */
export function coverageText(
  uncovered: readonly string[],
  coverage: Record<string, number>,
  max = 1000,
): string {
  const partly = Object.entries(coverage).filter(([, c]) => c < 1);
  const parts: string[] = [];
  if (uncovered.length > 0)
    parts.push(`not covered by this scene: ${uncovered.map((id) => JSON.stringify(id)).join(', ')}`);
  if (partly.length > 0) {
    const list = partly.map(([id, c]) => `${JSON.stringify(id)} ${Math.floor(c * 100 + 1e-9)} %`).join(', ');
    parts.push(`partly covered (share of the field inside the scene): ${list}`);
  }
  const text = parts.join('; ');
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Up to this many field ids are listed in a log line (the count is always given). */
const LOGGED_FIELDS = 20;

/**
 * What a log line says of a scene's coverage of the farm: the fields it does not cover and those
 * it covers only in part (with their coverage), each list cut short with its count. Empty when the
 * scene covers every field whole.
 */
export function coverageLog(uncovered: readonly string[], coverage: Record<string, number>): object {
  const partly = Object.entries(coverage).filter(([, c]) => c < 1);
  return {
    ...(uncovered.length > 0
      ? { notCovered: uncovered.slice(0, LOGGED_FIELDS), notCoveredCount: uncovered.length }
      : {}),
    ...(partly.length > 0
      ? {
          partlyCovered: Object.fromEntries(partly.slice(0, LOGGED_FIELDS)),
          partlyCoveredCount: partly.length,
        }
      : {}),
  };
}

export class ImageryInbox {
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private again: Promise<void> | undefined;
  /** The imagery folder: inbox/, done/, failed/ and results/. */
  readonly dir: string;
  private readonly fields: () => readonly FieldInput[];
  private readonly onResult: (r: ProcessedScene) => void;
  private readonly log: Logger;
  private readonly onFailure: ((f: FailedScene) => void) | undefined;

  constructor(
    dir: string,
    fields: () => readonly FieldInput[],
    onResult: (r: ProcessedScene) => void,
    log: Logger,
    onFailure?: (f: FailedScene) => void,
  ) {
    this.dir = dir;
    this.fields = fields;
    this.onResult = onResult;
    this.log = log;
    this.onFailure = onFailure;
    for (const d of ['inbox', 'done', 'failed', 'results']) mkdirSync(join(dir, d), { recursive: true });
  }

  get inbox(): string {
    return join(this.dir, 'inbox');
  }

  start(everyMs = 10_000): void {
    void this.scan();
    this.timer = setInterval(() => void this.scan(), everyMs);
    this.timer.unref();
  }

  /**
   * Processes every scene waiting in the inbox, one at a time. Asked during a scan, it scans once
   * more after it, so a scene written meanwhile does not wait for the next round.
   */
  scan(): Promise<void> {
    if (this.busy) {
      this.again ??= this.busy.then(() => {
        this.again = undefined;
        return this.scan();
      });
      return this.again;
    }
    this.busy = this.scanOnce().finally(() => (this.busy = undefined));
    return this.busy;
  }

  private async scanOnce(): Promise<void> {
    try {
      await this.scanFiles();
    } catch (e) {
      // Never let one odd file take the gateway down (an unhandled rejection ends Node).
      this.log.error({ err: (e as Error).message }, 'imagery inbox scan failed');
    }
  }

  private async scanFiles(): Promise<void> {
    const names = readdirSync(this.inbox)
      .filter((n) => /\.tiff?$/i.test(n))
      .sort();
    for (const name of names) {
      const file = join(this.inbox, name);
      // A file still being copied in grows; wait until its size holds still for a scan.
      const size = statSync(file).size;
      await new Promise((r) => setTimeout(r, 200));
      if (!existsSync(file) || statSync(file).size !== size) continue;
      await this.processOne(file);
    }
  }

  private async processOne(file: string): Promise<void> {
    const stem = basename(file).replace(/\.tiff?$/i, '');
    const sidecarFile = join(this.inbox, `${stem}.hatake.json`);
    const companions = [sidecarFile, join(this.inbox, `${stem}.json`)].filter((f) => existsSync(f));
    let scene: Scene | undefined;
    let origin: SceneOrigin | undefined;
    try {
      const sidecar = existsSync(sidecarFile) ? readSidecar(sidecarFile) : {};
      origin = sidecar.downlink;
      // The imaging stack (geotiff, sharp) loads when a scene arrives, not with the gateway.
      const { Scene } = await import('../../edge/imagery/scene.ts');
      const { processScene } = await import('../../edge/imagery/process.ts');
      const { profileById, parseBandMap } = await import('../../edge/imagery/profiles.ts');
      scene = await Scene.open({
        files: [file],
        profile: profileById(sidecar.profile ?? 's2-l2a'),
        bands: sidecar.bands ? parseBandMap(sidecar.bands) : undefined,
        index: sidecar.index,
        offset: sidecar.offset,
        scale: sidecar.scale,
        sceneId: sidecar.sceneId,
        // stats.json says it in UTC, as a scene's own metadata would (readSidecar checked it parses).
        acquired: sidecar.acquired !== undefined ? new Date(sidecar.acquired).toISOString() : undefined,
      });
      const outDir = join(this.dir, 'results', scene.id);
      // The fields the scene does not cover are named, not an error: a scene may show part of the farm.
      const { stats, zones, uncovered, coverage } = await processScene(scene, this.fields(), {
        outDir,
        skipUncovered: true,
      });
      for (const f of [file, ...companions]) renameSync(f, join(this.dir, 'done', basename(f)));
      this.log.info(
        {
          scene: scene.id,
          fields: Object.keys(stats.fields ?? {}).length,
          ...coverageLog(uncovered, coverage),
        },
        uncovered.length > 0
          ? `scene processed; ${uncovered.length === 1 ? '1 field' : `${uncovered.length} fields`} not covered by this scene`
          : 'scene processed',
      );
      this.onResult({
        sceneId: scene.id,
        acquired: scene.acquired ?? new Date().toISOString(),
        stats,
        zones,
        outDir,
        uncovered,
        coverage,
      });
    } catch (e) {
      const reason = isHatakeError(e) ? e.describe() : (e as Error).message;
      this.log.error({ file, reason }, 'scene not processed');
      for (const f of [file, ...companions]) renameSync(f, join(this.dir, 'failed', basename(f)));
      writeFileSync(join(this.dir, 'failed', `${stem}.reason.txt`), `${reason}\n`);
      const failed: FailedScene = {
        file: basename(file),
        code: isHatakeError(e) ? e.code : 'HATAKE_E_INTERNAL',
        reason: isHatakeError(e)
          ? `${e.message}${e.expected ? ` (expected ${e.expected})` : ''}`
          : (e as Error).message,
        ...(origin ? { downlink: origin } : {}),
      };
      try {
        this.onFailure?.(failed);
      } catch (err) {
        this.log.error({ file, err: (err as Error).message }, 'scene failure not reported');
      }
    } finally {
      await scene?.close();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.busy;
    await this.again;
  }
}

/** The scene's sidecar: a JSON object, or a coded error naming the file. */
function readSidecar(file: string): SceneSidecar {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HatakeError('HATAKE_E_IMAGERY_FILE', `${basename(file)} is not JSON: ${(e as Error).message}`, {
      place: { file },
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HatakeError('HATAKE_E_IMAGERY_FILE', `${basename(file)} must hold a JSON object`, {
      place: { file },
    });
  }
  const sidecar = value as Record<string, unknown>;
  const bad = (key: string, message: string, expected?: string) =>
    new HatakeError('HATAKE_E_IMAGERY_FILE', `${basename(file)}: ${message}`, {
      place: { file, pointer: `/${key}` },
      expected,
    });
  const { downlink } = value as SceneSidecar;
  if (
    downlink !== undefined &&
    !(
      typeof downlink === 'object' &&
      downlink !== null &&
      isId(downlink.id) &&
      Number.isSafeInteger(downlink.version) &&
      downlink.version >= 0
    )
  ) {
    throw bad('downlink', "downlink must name the document's id and version", '{"id": "…", "version": 12}');
  }
  // The type of each description a sidecar may give (its content is checked where it is used —
  // the profile, band map, index and scene id by the scene's opening — each with a coded error).
  // Keys this gateway does not know are left alone, as before.
  for (const key of ['profile', 'bands', 'index', 'sceneId'] as const) {
    const v = sidecar[key];
    if (v !== undefined && !(typeof v === 'string' && v.length <= 200))
      throw bad(key, `${key} must be a string`, SIDECAR_EXAMPLES[key]);
  }
  const { scale, offset, acquired } = sidecar;
  if (scale !== undefined && !(typeof scale === 'number' && Number.isFinite(scale) && scale > 0)) {
    throw bad('scale', 'scale must be a positive number');
  }
  if (offset !== undefined && !(typeof offset === 'number' && Number.isFinite(offset))) {
    throw bad('offset', 'offset must be a number', 'e.g. -1000');
  }
  if (
    acquired !== undefined &&
    !(typeof acquired === 'string' && acquired.length <= 40 && !Number.isNaN(Date.parse(acquired)))
  ) {
    throw bad('acquired', 'acquired must be a date and time', 'ISO 8601, e.g. "2026-07-20T01:30:00Z"');
  }
  return value as SceneSidecar;
}

const SIDECAR_EXAMPLES = {
  profile: 'a sensor profile id, e.g. "s2-l2a" or "index"',
  bands: 'band roles → numbers, e.g. "red=3,nir=4"',
  index: 'for profile index: the index the raster holds, e.g. "ndvi"',
  sceneId: 'a scene id, e.g. "S2A_29RKH_20200219_0_L2A"',
};
