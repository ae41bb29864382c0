// Tips on the gateway: the agronomic rules (edge/rules) run after new readings (at most once a
// minute) and on a timer, offline too. Raised tips go to the outbox for the server and to the
// status page, and so does the end of a tip whose condition cleared; the lifecycle state (what is
// live, hysteresis, cool-downs) is kept in the gateway's database so a restart does not raise the
// same tip twice. The imagery-anomaly rule reads the index history of each field's scouting cells
// (fixed ground; edge/imagery/scout-cells.ts), which the gateway keeps for every scene it processes.
import type { Field, Manifest } from '../protocol/manifest.ts';
import type { Tip, TipCleared } from '../protocol/tip.ts';
import type { FieldStageDoc } from '../protocol/field-stage.ts';
import { stageInEffect, type SeenStage } from '../edge/rules/stages.ts';
import {
  evaluateRules,
  resolveRulesConfig,
  stepTips,
  emptyTipState,
  liveTipIds,
  parseTipState,
  type RulesConfig,
  type TipState,
} from '../edge/rules/index.ts';
import type { TipEnded } from '../edge/rules/lifecycle.ts';
import { FUTURE_TOLERANCE_MS, type DailyTemperature, type ZoneIndexPoint } from '../edge/rules/context.ts';
import type { ImageryAnomalyParams } from '../edge/rules/imagery-anomaly.ts';
import { localDay, offsetMs } from '../edge/rules/local-time.ts';
import { WEATHER_METRICS } from '../edge/rules/hourly-weather.ts';
import type { Catalogue } from '../firmware-config/catalogue.ts';
import type { Logger } from '../runtime/log.ts';
import type { GatewayStore, SeriesColumns } from './store.ts';
import { cellGridId } from '../edge/imagery/scout-cells.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface TipEngineOptions {
  /** Raw readings the rules see (older days come as daily temperature extremes). */
  windowHours: number;
  /**
   * How far back the weather metrics of weather devices reach (the disease rules judge days:
   * BLASTAM the last 7 with 5 days before each, late blight 2 whole days). Default 14 days.
   */
  weatherHours?: number;
  /** Least time between two evaluations triggered by new readings. */
  minIntervalMs: number;
  /** Evaluation even without new readings (expiry, devices gone silent). */
  everyMs: number;
  timeZone: string;
  /** The rules' settings (the gateway file's `rules:` section); defaults when absent. */
  rules?: RulesConfig;
}

export class TipEngine {
  private timer: NodeJS.Timeout | undefined;
  private lastRunMono = -Infinity;
  private pending: NodeJS.Timeout | undefined;
  private readonly rules: ReturnType<typeof resolveRulesConfig>;
  private readonly store: GatewayStore;
  private readonly catalogue: Catalogue;
  private readonly manifest: () => Manifest;
  private readonly opts: TipEngineOptions;
  private readonly log: Logger;
  /** The evaluation in progress or the last one (evaluations run one at a time). */
  private queue: Promise<unknown> = Promise.resolve();
  /** A clock-timed evaluation asked for and not yet started (at most one waits). */
  private waiting: Promise<Tip[]> | undefined;
  private stopped = false;
  /** Rule notes of the last run (missing data, parameters), for the status page. */
  lastNotes: string[] = [];

  constructor(
    store: GatewayStore,
    catalogue: Catalogue,
    manifest: () => Manifest,
    opts: TipEngineOptions,
    log: Logger,
  ) {
    this.store = store;
    this.catalogue = catalogue;
    this.manifest = manifest;
    this.opts = opts;
    this.rules = resolveRulesConfig(opts.rules);
    this.log = log;
  }

  start(): void {
    this.timer = setInterval(() => void this.run(), this.opts.everyMs);
    this.timer.unref();
  }

  /** New readings arrived: evaluate soon, but not more often than minIntervalMs. */
  nudge(): void {
    if (this.pending || this.stopped) return;
    // Monotonic: a wall clock set back must not postpone the rules by days.
    const wait = Math.min(
      this.opts.minIntervalMs,
      Math.max(0, this.lastRunMono + this.opts.minIntervalMs - performance.now()),
    );
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.run();
    }, wait);
    this.pending.unref();
  }

  private state(): TipState {
    const raw = this.store.getMeta('tip_state');
    if (!raw) return emptyTipState();
    try {
      return parseTipState(JSON.parse(raw));
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'stored tip state unreadable; starting afresh');
      return emptyTipState();
    }
  }

  /** The tips live now (raised and neither cleared nor expired). */
  live(): Tip[] {
    const ids = new Set(liveTipIds(this.state()));
    return this.store
      .documents<Tip>('tip')
      .map((d) => d.body)
      .filter((t) => ids.has(t.id));
  }

  /**
   * One evaluation: rules → lifecycle → raised tips in the outbox. Resolves to the tips raised.
   * The window is read one series at a time with a turn of the event loop between them, so ingest
   * and its PUBACKs go on while a busy farm's window is read; the rules and the lifecycle then run
   * in one go, reading the tip state and writing the outcome with no turn between. Evaluations
   * run one at a time: one asked for meanwhile waits its turn rather than reading a second window
   * beside the first. Without `now` (the timer, new readings) the clock is read when the
   * evaluation starts, and one already waiting serves: however slow the evaluations, at most one
   * such waits. A stopped engine evaluates nothing.
   */
  run(now?: number): Promise<Tip[]> {
    if (this.stopped) return Promise.resolve([]);
    if (now === undefined && this.waiting) return this.waiting;
    const mine = this.queue.then(() => {
      if (now === undefined) this.waiting = undefined;
      return this.evaluate(now ?? Date.now());
    });
    // evaluate() settles every failure itself; the chain must survive one anyway.
    this.queue = mine.catch(() => []);
    if (now === undefined) this.waiting = mine;
    return mine;
  }

  private async evaluate(now: number): Promise<Tip[]> {
    if (this.stopped) return [];
    this.lastRunMono = performance.now();
    try {
      const m = this.manifest();
      const series = await this.window(m, now);
      if (this.stopped) return [];
      const lastSeen = Object.fromEntries(
        this.store
          .devices()
          .filter((d) => d.lastSeen !== null)
          .map((d) => [d.id, d.lastSeen!]),
      );
      const declared = declaredStages(
        m.fields,
        now,
        this.opts.timeZone,
        this.store.documents<FieldStageDoc>('stage').map((d) => d.body),
      );
      // Each of these reads is a block of its own (the daily extremes fill their memo a week per
      // turn on a first run): a turn of the event loop between them, and before the rules.
      const dailyTemperatures = await this.dailyTemperatures(m, now);
      await turn();
      const zoneIndex = this.zoneIndex(m, now);
      await turn();
      if (this.stopped) return [];
      const evaluation = evaluateRules(
        {
          now,
          stages: declared.stages,
          farm: m.farm,
          fields: m.fields,
          devices: m.devices,
          kits: [...this.catalogue.kits.values()],
          readings: [],
          series,
          lastSeen,
          dailyTemperatures,
          zoneIndex,
        },
        this.rules,
      );
      this.lastNotes = [
        ...declared.notes,
        ...evaluation.notes.map((n) => `${n.rule ?? ''}: ${n.message}`),
      ].slice(0, 20);
      const step = stepTips(this.state(), evaluation.assessments, now);
      this.store.db.transaction(() => {
        this.store.setMeta('tip_state', JSON.stringify(step.state));
        for (const t of step.raised) {
          this.store.enqueue('tip', t, now);
          this.store.putDocument('tip', t.id, 0, t, now);
        }
        // The server shows a tip until it expires unless told its condition ended.
        for (const c of step.cleared) this.store.enqueue('tip_cleared', tipClearedItem(c), now);
        // Keep only the live ones for the status page.
        const live = new Set(liveTipIds(step.state));
        for (const d of this.store.documents<Tip>('tip'))
          if (!live.has(d.id)) this.store.deleteDocument('tip', d.id);
      })();
      if (step.cleared.length) this.log.info({ tips: step.cleared.map((c) => c.key) }, 'tips cleared');
      if (step.raised.length)
        this.log.info(
          { tips: step.raised.map((t) => `${t.kind}:${t.field ?? t.devices.join(',')}`) },
          'tips raised',
        );
      return step.raised;
    } catch (e) {
      // Stopped mid-read, the store may have closed under it: nothing to report.
      if (!this.stopped)
        this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'rules not evaluated');
      return [];
    }
  }

  /**
   * The raw readings the rules see, series by series: the last `windowHours` of every series and,
   * for the weather metrics of the devices whose kit measures them, `weatherHours` (the disease
   * rules judge days). Each series is one range of the primary key (device, metric, time), with a
   * turn of the event loop before it; the store keeps each between evaluations and reads on from
   * where the last one ended.
   */
  private async window(m: Manifest, now: number): Promise<SeriesColumns[]> {
    const windowFrom = now - this.opts.windowHours * HOUR;
    const weatherFrom = Math.min(windowFrom, now - (this.opts.weatherHours ?? 14 * 24) * HOUR);
    const weather = new Set(
      m.devices.flatMap((d) => {
        const kit = this.catalogue.kits.get(d.kit);
        return WEATHER_METRICS.filter((metric) => kit?.metrics[metric]).map(
          (metric) => `${d.id}\u0000${metric}`,
        );
      }),
    );
    const out: SeriesColumns[] = [];
    const read = new Map<string, Set<string>>();
    for (const { device, metric } of this.store.seriesKeys()) {
      await turn();
      if (this.stopped) return out;
      const from = weather.has(`${device}\u0000${metric}`) ? weatherFrom : windowFrom;
      const s = this.store.seriesColumns(device, metric, from, now + FUTURE_TOLERANCE_MS);
      if (s) out.push(s);
      let metrics = read.get(device);
      if (!metrics) read.set(device, (metrics = new Set()));
      metrics.add(metric);
    }
    // The store keeps what was read for the next evaluation, which reads only what came since.
    this.store.retainSeriesWindows(read);
    return out;
  }

  /**
   * The scouting cells' index history for the imagery-anomaly rule: the points of each field's
   * current cell layout as far back as the rule looks (its history before a scene it still judges).
   */
  private zoneIndex(m: Manifest, now: number): ZoneIndexPoint[] {
    const P = this.rules.get('imagery-anomaly') as ImageryAnomalyParams | undefined;
    if (!P) return [];
    const grids = new Map(m.fields.flatMap((f) => (f.boundary ? [[f.id, cellGridId(f)] as const] : [])));
    return this.store
      .zoneIndex(grids, now - (P.historyDays + P.maxSceneAgeDays) * DAY, now + FUTURE_TOLERANCE_MS)
      .map(({ grid: _grid, ...p }) => p);
  }

  /**
   * Daily minimum and maximum air temperature per local day, for the days before the window. The
   * days the store keeps are read first, a week per turn of the event loop (months of every
   * station's readings after a start).
   */
  private async dailyTemperatures(m: Manifest, now: number): Promise<DailyTemperature[]> {
    const rows = await this.store.dailyTemperaturesInTurns(
      airTemperatureDevices(m, this.catalogue),
      now - 200 * 24 * HOUR,
      offsetMs(this.opts.timeZone, now),
      now,
      turn,
    );
    return rows.map(({ date, tmin, tmax }) => ({ date, tmin, tmax }));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.pending);
  }
}

/** One turn of the event loop: what is waiting (MQTT, HTTP, commits) runs before the next read. */
export const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What the server is told when a live tip's condition cleared. */
export const tipClearedItem = (c: TipEnded): TipCleared => ({ id: c.tipId, dedupKey: c.key, at: c.at });

/** The farm's devices whose kit measures air temperature (its weather stations). */
export function airTemperatureDevices(m: Manifest, catalogue: Catalogue): string[] {
  return m.devices.filter((d) => catalogue.kits.get(d.kit)?.metrics.air_temperature).map((d) => d.id);
}

/**
 * The growth stages people saw in the fields, for the rules: the manifest field's `stage` and the
 * stage recorded on the dashboard (a `stage` document sent down), the later of the two, each for
 * DECLARED_STAGE_DAYS after its date (the farm's local days); an older one is left to the GDD
 * estimate, with a note saying so.
 */
export function declaredStages(
  fields: readonly Field[],
  now: number,
  timeZone: string,
  recorded: readonly FieldStageDoc[] = [],
): { stages: Record<string, string>; notes: string[] } {
  const today = localDay(timeZone, now);
  const stages: Record<string, string> = {};
  const notes: string[] = [];
  for (const f of fields) {
    const seen: SeenStage[] = recorded
      .filter((r) => r.field === f.id)
      .map((r) => ({ stage: r.stage, date: r.date, source: 'recorded' }));
    if (f.stage) seen.push({ stage: f.stage.id, date: f.stage.date, source: 'manifest' });
    const { stage, ignored } = stageInEffect(seen, today);
    if (stage) stages[f.id] = stage.stage;
    else if (ignored)
      notes.push(
        `stage: ${f.id}'s stage ${ignored.stage} of ${ignored.date} (${ignored.source}) is ${ignored.days} days old; the GDD estimate is used (record the field's stage)`,
      );
  }
  return { stages, notes };
}
