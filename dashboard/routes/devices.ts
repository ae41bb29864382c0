// Farms, fields and devices with their latest values — always scoped to the caller's farms.
import { Type } from '@sinclair/typebox';
import { DeviceView, FarmView, ProblemBody } from '../../protocol/api.ts';
import type { App, ServerContext } from '../server.ts';
import { requireSession } from '../server.ts';

const inList = (n: number) => Array.from({ length: n }, () => '?').join(',');

export async function deviceRoutes(app: App, { ctx }: { ctx: ServerContext }): Promise<void> {
  app.get(
    '/api/v1/farms',
    {
      schema: {
        summary: 'Farms the caller may see, with their fields',
        tags: ['farms'],
        security: [{ session: [] }],
        response: { 200: Type.Array(FarmView), 401: ProblemBody },
      },
    },
    async (request) => {
      const farms = ctx.auth.visibleFarms(requireSession(request).user);
      if (farms.length === 0) return [];
      const rows = ctx.db
        .prepare(`SELECT * FROM farms WHERE id IN (${inList(farms.length)}) ORDER BY id`)
        .all(...farms) as {
        id: string;
        name: string;
        region: string | null;
        timezone: string;
      }[];
      const fields = ctx.db
        .prepare(
          `SELECT farm, id, name, crop FROM fields WHERE farm IN (${inList(farms.length)}) ORDER BY id`,
        )
        .all(...farms) as {
        farm: string;
        id: string;
        name: string;
        crop: string | null;
      }[];
      return rows.map((f) => ({
        ...f,
        fields: fields.filter((x) => x.farm === f.id).map(({ id, name, crop }) => ({ id, name, crop })),
      }));
    },
  );

  app.get(
    '/api/v1/devices',
    {
      schema: {
        summary: 'Devices with their last contact and latest value of every metric',
        tags: ['devices'],
        security: [{ session: [] }],
        response: { 200: Type.Array(DeviceView), 401: ProblemBody },
      },
    },
    async (request) => {
      const farms = ctx.auth.visibleFarms(requireSession(request).user);
      if (farms.length === 0) return [];
      const devices = ctx.db
        .prepare(
          `SELECT farm, id, field, kit, name, last_seen, online FROM devices WHERE farm IN (${inList(farms.length)}) ORDER BY farm, id`,
        )
        .all(...farms) as {
        farm: string;
        id: string;
        field: string | null;
        kit: string | null;
        name: string | null;
        last_seen: number | null;
        online: number | null;
      }[];
      const latest = await ctx.readings.latest(farms);
      const byDevice = new Map<string, typeof latest>();
      for (const l of latest) {
        const key = `${l.farm}/${l.device}`;
        byDevice.set(key, [...(byDevice.get(key) ?? []), l]);
      }
      return devices.map((d) => ({
        id: d.id,
        farm: d.farm,
        field: d.field,
        kit: d.kit,
        name: d.name,
        lastSeen: d.last_seen === null ? null : new Date(d.last_seen).toISOString(),
        online: d.online === null ? null : d.online === 1,
        latest: (byDevice.get(`${d.farm}/${d.id}`) ?? []).map((l) => ({
          metric: l.metric,
          value: l.value,
          unit: l.unit,
          time: new Date(l.time).toISOString(),
          flags: l.flags as never,
        })),
      }));
    },
  );
}
