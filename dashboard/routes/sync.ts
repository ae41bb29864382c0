// POST /api/v1/sync — where gateways deliver their outbox. A batch is applied with an
// exactly-once effect: readings are keyed by (farm, device, metric, time), documents by their
// ids, so a resend changes nothing; the answer is the highest sequence acknowledged in the
// gateway's current outbox epoch (a new gateway database numbers from 1 again, see sync-acked.ts).
import { createGunzip } from 'node:zlib';
import { SyncAck, SyncBatch, type GatewayEvent } from '../../protocol/sync.ts';
import { ProblemBody } from '../../protocol/api.ts';
import { HatakeError } from '../../protocol/errors.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { App, ServerContext } from '../server.ts';
import { requireGateway } from '../server.ts';
import type { FarmAggregate, FarmReading } from '../storage/types.ts';
import type { PluggableKind, SeriesWrites } from '../sync-appliers.ts';
import type { Db } from '../../runtime/sqlite.ts';
import { LEGACY_EPOCH, syncAcked } from '../sync-acked.ts';

/** Upserts a farm's manifest: the farm, its fields and its devices. */
export function applyManifest(db: Db, m: Manifest): void {
  db.prepare(
    `INSERT INTO farms (id, name, region, timezone) VALUES (?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET name = excluded.name, region = excluded.region, timezone = excluded.timezone`,
  ).run(m.farm.id, m.farm.name, m.farm.region ?? null, m.farm.timezone ?? 'Asia/Tokyo');
  const field = db.prepare(
    `INSERT INTO fields (farm, id, name, crop, doc) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(farm, id) DO UPDATE SET name = excluded.name, crop = excluded.crop, doc = excluded.doc`,
  );
  for (const f of m.fields) field.run(m.farm.id, f.id, f.name, f.crop ?? null, JSON.stringify(f));
  const device = db.prepare(
    `INSERT INTO devices (farm, id, field, kit, name) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(farm, id) DO UPDATE SET field = excluded.field, kit = excluded.kit, name = excluded.name`,
  );
  for (const d of m.devices) device.run(m.farm.id, d.id, d.field ?? null, d.kit, d.name ?? null);
}

export async function syncRoutes(app: App, { ctx }: { ctx: ServerContext }): Promise<void> {
  // Statements every sync runs, prepared once.
  const sql = {
    farm: ctx.db.prepare('INSERT OR IGNORE INTO farms (id, name) VALUES (?, ?)'),
    event: ctx.db.prepare(
      `INSERT OR IGNORE INTO events (gateway, farm, id, type, severity, time, device, message, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    gatewayStatus: ctx.db.prepare(
      `UPDATE gateways SET version = ?, backlog = ?, backlog_bytes = ?, oldest_age_ms = ?, clock_offset_ms = ?, downlink_version = ?, status_at = ? WHERE id = ?`,
    ),
    // A device first known by its readings has no connection state yet (a LoRaWAN sensor never
    // connects to the gateway's broker at all): only its gateway's device_status says one.
    touch: ctx.db.prepare(
      `INSERT INTO devices (farm, id, last_seen, online) VALUES (?, ?, ?, NULL)
       ON CONFLICT(farm, id) DO UPDATE SET last_seen = MAX(COALESCE(last_seen, 0), excluded.last_seen)`,
    ),
    deviceStatus: ctx.db.prepare(
      `INSERT INTO devices (farm, id, online) VALUES (?, ?, ?) ON CONFLICT(farm, id) DO UPDATE SET online = excluded.online`,
    ),
    ack: ctx.db.prepare('UPDATE gateways SET acked_seq = MAX(acked_seq, ?), last_sync = ? WHERE id = ?'),
    // The first batch of a new outbox epoch: the old epoch's high mark says nothing of this one.
    ackNewEpoch: ctx.db.prepare('UPDATE gateways SET acked_seq = ?, last_sync = ? WHERE id = ?'),
    ackedSeq: ctx.db.prepare('SELECT acked_seq FROM gateways WHERE id = ?'),
  };
  // The items acknowledged before: a resend is stored again harmlessly, but announced and counted once.
  const acked = syncAcked(ctx.db);

  app.addHook('preParsing', async (request, _reply, payload) => {
    if (request.headers['content-encoding'] !== 'gzip') return payload;
    // bodyLimit applies to what this stream yields, i.e. the inflated size: a gzip bomb stops
    // there. Fastify compares receivedEncodedLength (not the inflated length) with Content-Length.
    const inflated = Object.assign(createGunzip(), { receivedEncodedLength: 0 });
    payload.on('data', (chunk: Buffer) => (inflated.receivedEncodedLength += chunk.length));
    payload.on('error', (e) => inflated.destroy(e));
    payload.pipe(inflated);
    return inflated;
  });

  app.post(
    '/api/v1/sync',
    {
      schema: {
        summary: 'Deliver a batch of a gateway outbox',
        tags: ['gateway'],
        security: [{ gateway: [] }],
        body: SyncBatch,
        response: { 200: SyncAck, 400: ProblemBody, 401: ProblemBody, 403: ProblemBody, 503: ProblemBody },
      },
      // The token is checked before the body is read, so a stranger cannot make us inflate gzip.
      onRequest: async (request) => {
        requireGateway(request, ctx.auth);
      },
    },
    async (request) => {
      const gw = requireGateway(request, ctx.auth);
      const batch = request.body;
      if (batch.gateway !== gw.id) {
        throw new HatakeError(
          'HATAKE_E_FORBIDDEN',
          `token belongs to gateway "${gw.id}", batch claims "${batch.gateway}"`,
        );
      }
      const readings: FarmReading[] = [];
      /** The sequence number of each reading, in `readings`' order. */
      const readingSeqs: number[] = [];
      const manifests: Manifest[] = [];
      const statuses: { device: string; online: boolean; time: number }[] = [];
      const events: GatewayEvent[] = [];
      const plugged = new Map<PluggableKind, unknown[]>();
      const aggregates: FarmAggregate[] = [];
      for (const item of batch.items) {
        if (item.seq < batch.seqFrom || item.seq > batch.seqTo) {
          throw new HatakeError(
            'HATAKE_E_SYNC_BATCH',
            `item seq ${item.seq} outside ${batch.seqFrom}…${batch.seqTo}`,
          );
        }
        switch (item.kind) {
          case 'reading': {
            // A literal rather than a spread: several times faster, and this runs per reading.
            const r = item.body;
            readings.push({
              farm: gw.farm,
              device: r.device,
              metric: r.metric,
              value: r.value,
              unit: r.unit,
              time: r.time,
              flags: r.flags,
            });
            readingSeqs.push(item.seq);
            break;
          }
          case 'manifest':
            if (item.body.farm.id !== gw.farm) {
              throw new HatakeError(
                'HATAKE_E_FORBIDDEN',
                `gateway of farm "${gw.farm}" sent a manifest for "${item.body.farm.id}"`,
              );
            }
            manifests.push(item.body);
            break;
          case 'device_status':
            statuses.push(item.body);
            break;
          case 'event':
            events.push(item.body);
            break;
          case 'aggregate':
            aggregates.push({ ...item.body, farm: gw.farm });
            break;
          case 'recommendation':
          case 'tip':
          case 'tip_cleared':
          case 'automation_log':
          case 'imagery':
          case 'registry': {
            if ('farm' in item.body && item.body.farm !== gw.farm) {
              throw new HatakeError(
                'HATAKE_E_FORBIDDEN',
                `gateway of farm "${gw.farm}" sent a ${item.kind} for "${String(item.body.farm)}"`,
              );
            }
            if (!ctx.appliers.get(item.kind)) {
              throw new HatakeError('HATAKE_E_SYNC_BATCH', `this server does not take ${item.kind} items`);
            }
            let bodies = plugged.get(item.kind);
            if (!bodies) plugged.set(item.kind, (bodies = []));
            bodies.push(item.body);
            break;
          }
          default: {
            const never: never = item;
            throw new HatakeError(
              'HATAKE_E_SYNC_BATCH',
              `unknown item kind ${JSON.stringify((never as { kind: unknown }).kind)}`,
            );
          }
        }
      }
      // Documents first — manifests (so a reading's device is known when it lands), then
      // recommendations, tips, events, automation logs — in the order the gateway prioritised
      // them: the important things are stored even if the readings then fail. Every step is
      // idempotent, so a batch resent after a failure changes nothing twice.
      const series: SeriesWrites = { indexStats: [], outputs: [] };
      ctx.db.transaction(() => {
        for (const m of manifests) applyManifest(ctx.db, m);
        // A farm the server has not heard of yet (no manifest synced): known from the token.
        sql.farm.run(gw.farm, gw.farm);
        for (const [kind, bodies] of plugged)
          ctx.appliers.get(kind)!({ db: ctx.db, gateway: gw, now: Date.now(), series }, bodies as never[]);
        for (const e of events) {
          sql.event.run(
            gw.id,
            gw.farm,
            e.id,
            e.type,
            e.severity,
            e.time,
            e.device ?? null,
            e.message,
            e.detail ? JSON.stringify(e.detail) : null,
          );
        }
      })();
      let result;
      try {
        // Hourly aggregates from a backlog that outgrew its budget stand for readings that exist
        // nowhere else: they go into the store with the readings (keyed by farm, device, metric,
        // hour and part, so a resend replaces and parts of an hour all count), before the ack.
        const [written, hours] = await Promise.all([
          ctx.readings.writeReadings(readings),
          aggregates.length ? ctx.readings.writeAggregates(aggregates) : undefined,
        ]);
        result = written;
        // Index statistics and recommendation outputs go beside the readings (Grafana reads them
        // from the same database); keyed, so a resent batch replaces rather than adds.
        const [stats, outputs] = await Promise.all([
          series.indexStats.length ? ctx.readings.writeIndexStats(series.indexStats) : undefined,
          series.outputs.length ? ctx.readings.writeRecommendationOutputs(series.outputs) : undefined,
        ]);
        if (stats?.rejected || outputs?.rejected || hours?.rejected)
          request.log.warn(
            {
              indexStats: stats?.rejected ?? 0,
              outputs: outputs?.rejected ?? 0,
              aggregates: hours?.rejected ?? 0,
            },
            'reading store refused some series points',
          );
      } catch (e) {
        request.log.error({ err: e }, 'reading store failed; batch refused so the gateway keeps it');
        throw new HatakeError('HATAKE_E_STORAGE', 'time-series store unavailable; retry later', { cause: e });
      }
      const lastSeen = new Map<string, number>();
      for (const r of readings) lastSeen.set(r.device, Math.max(lastSeen.get(r.device) ?? 0, r.time));
      const seqs = batch.items.map((i) => i.seq);
      // Sequence numbers count within the gateway database's outbox epoch: a batch of a new one
      // (an SD card swapped, a re-flash under the same id) holds no resend, whatever its numbers.
      const epoch = batch.epoch ?? LEGACY_EPOCH;
      const resent = acked.held(gw.id, seqs, epoch);
      const ackedSeq = ctx.db.transaction(() => {
        if (batch.status) {
          const st = batch.status;
          sql.gatewayStatus.run(
            st.version,
            st.backlog,
            st.backlogBytes,
            st.oldestAgeMs,
            st.clockOffsetMs,
            st.downlinkVersion,
            Date.now(),
            gw.id,
          );
        }
        for (const [device, t] of lastSeen) sql.touch.run(gw.farm, device, t);
        for (const s of statuses) sql.deviceStatus.run(gw.farm, s.device, s.online ? 1 : 0);
        const now = Date.now();
        if (acked.enter(gw.id, epoch)) sql.ackNewEpoch.run(batch.seqTo, now, gw.id);
        else sql.ack.run(batch.seqTo, now, gw.id);
        acked.record(gw.id, seqs, now, batch.status?.outboxMinSeq);
        // Counted with the ack, so a batch counts only once it is acknowledged; an item delivered
        // before (its ack lost) not again — nor a reading the store already held, for a server
        // whose record of acknowledged items is younger than the gateway's backlog.
        ctx.throughput.record(gw.id, batch.items.length - Math.max(resent.size, result.duplicates), now);
        return (sql.ackedSeq.get(gw.id) as { acked_seq: number }).acked_seq;
      })();
      // Live events cost a few µs per reading: build them only when a browser is listening. A
      // reading delivered before was announced then.
      if (result.applied > 0 && ctx.live.listenerCount('reading') > 0) {
        for (let i = 0; i < readings.length; i++) {
          if (resent.size > 0 && resent.has(readingSeqs[i]!)) continue;
          const r = readings[i]!;
          ctx.live.emit('reading', {
            farm: r.farm,
            device: r.device,
            metric: r.metric,
            value: r.value,
            unit: r.unit,
            time: new Date(r.time).toISOString(),
            flags: r.flags,
          });
        }
      }
      // A device's health changed (its connection, or its last-seen and readings): the partner's
      // health page fetches it again. One change per device, after the commit — built only when a
      // browser is listening (a batch may name hundreds of devices).
      if (ctx.live.listenerCount('change') > 0) {
        const touched = new Set(statuses.map((s) => s.device));
        if (result.applied > 0) for (const device of lastSeen.keys()) touched.add(device);
        for (const id of touched) ctx.live.emit('change', { farm: gw.farm, kind: 'device', id });
        // The gateway's own report (backlog, version, alerts): its row on the same page.
        if (batch.status) ctx.live.emit('change', { farm: gw.farm, kind: 'gateway', id: gw.id });
      }
      // A gateway's report on an automation it was sent (applied or refused): the farmer's card
      // says so at once.
      for (const e of events) {
        const d = e.detail;
        if ((e.type === 'downlink_applied' || e.type === 'downlink_refused') && d?.kind === 'automation')
          if (typeof d.id === 'string')
            ctx.live.emit('change', { farm: gw.farm, kind: 'automation', id: d.id });
      }
      return {
        gateway: gw.id,
        ackedSeq,
        applied: result.applied,
        duplicates: result.duplicates,
        serverTime: Date.now(),
      };
    },
  );
}
