// What the server says about an automation on the farm's gateways (AutomationView.onGateway), from
// the downlink_applied / downlink_refused events gateways sync, as they report them: only reports
// about the automation's current document count (an older version's, another document's, another
// farm's, a revoked gateway's do not); one gateway refusing it outweighs another applying it; the
// reason is the gateway's words without the "refused automation … v…:" head; a report whose
// detail is not what a gateway sends is ignored, and still stored.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HatakeServer } from '../../dashboard/server.ts';
import type { AutomationView } from '../../protocol/review.ts';
import { signIn, startServer } from '../helpers/stack.ts';
import { SeedGateway, farmWithGates } from '../e2e/seed.ts';

const FARM = 'demo-farm';
let dir: string;
let server: HatakeServer;
let url: string;
let farmer: Awaited<ReturnType<typeof signIn>>;
let gwA: SeedGateway;
let gwB: SeedGateway;
let a: AutomationView;
let n = 0;

const body = (over: object = {}) => ({
  field: 'paddy-1',
  name: { ja: '田んぼ1号の水位', en: 'Paddy 1 water level' },
  enabled: true,
  trigger: { kind: 'band', device: 'water-1', metric: 'water_level', low: 3, high: 5 },
  below: { device: 'gate-1', command: 'open' },
  above: { device: 'gate-1', command: 'close' },
  limits: { maxRunsPerDay: 4, maxOpenMinutes: 120 },
  ...over,
});

/** The farm-wide downlink version the automation's current document went down as. */
const sentAs = (id: string) => server.ctx.downlink.get(FARM, 'automation', id)!.version;

/** A downlink report as a gateway's downlink client raises it (gateway/downlink-client.ts). */
function report(
  type: 'downlink_applied' | 'downlink_refused',
  id: string,
  version: number,
  what: string,
  at = Date.now(),
  detail?: unknown,
) {
  const name = `automation ${id} v${version}`;
  return {
    kind: 'event' as const,
    body: {
      id: `event-${String(++n).padStart(4, '0')}`,
      type,
      severity: type === 'downlink_refused' ? 'critical' : 'info',
      time: at,
      message: type === 'downlink_refused' ? `refused ${name}: ${what}` : `applied ${name}: ${what}`,
      detail: detail ?? {
        kind: 'automation',
        id,
        version,
        ...(type === 'downlink_refused' ? { code: 'HATAKE_E_AUTOMATION' } : {}),
      },
    },
  };
}

async function view(id: string): Promise<AutomationView> {
  const res = await farmer(`/api/v1/automations/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as AutomationView;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hatake-automation-on-gateway-'));
  ({ server, url } = await startServer(dir));
  gwA = new SeedGateway(server, url, FARM, 'gw-a');
  gwB = new SeedGateway(server, url, FARM, 'gw-b');
  await gwA.send([{ kind: 'manifest', body: farmWithGates() }]);
  farmer = await signIn(url, 'demo-farmer');
  const res = await farmer('/api/v1/automations', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ farm: FARM, ...body() }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  a = (await res.json()) as AutomationView;
});
afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('an automation’s state on the farm’s gateways', () => {
  it('is pending while no gateway reported its current document', async () => {
    expect(a.onGateway).toEqual({ state: 'pending', version: 1 });
    const v = sentAs(a.id);
    // Reports about other documents: another automation, a version never sent, a recommendation.
    await gwA.send([
      report('downlink_applied', 'aut-someone-else', v, 'automation aut-someone-else kept'),
      report('downlink_applied', a.id, v + 100, `automation ${a.id} kept`),
      report('downlink_applied', a.id, v, 'kept', Date.now(), {
        kind: 'recommendation',
        id: a.id,
        version: v,
      }),
      // Not a report a gateway sends: no version, a version as text.
      report('downlink_applied', a.id, v, 'kept', Date.now(), { kind: 'automation', id: a.id }),
      report('downlink_applied', a.id, v, 'kept', Date.now(), {
        kind: 'automation',
        id: a.id,
        version: `${v}`,
      }),
    ]);
    // Another farm's gateway reporting the same id and version (it cannot have been sent it).
    await new SeedGateway(server, url, 'hok-farm', 'gw-other').send([
      report('downlink_refused', a.id, v, 'no device "gate-1" on this gateway'),
    ]);
    expect((await view(a.id)).onGateway).toEqual({ state: 'pending', version: 1 });
    // Every one of them is stored as the gateways sent it (the partner's alerts list them).
    expect(
      server.ctx.db
        .prepare("SELECT COUNT(*) AS n FROM events WHERE type IN ('downlink_applied', 'downlink_refused')")
        .get(),
    ).toEqual({ n: 6 });
  });

  it('is applied once a gateway applied it, and the farmer’s page is told at once', async () => {
    const at = Date.now() - 5000;
    const changes: { farm: string; kind: string; id: string }[] = [];
    const onChange = (c: { farm: string; kind: string; id: string }) => changes.push(c);
    server.ctx.live.on('change', onChange);
    await gwA.send([report('downlink_applied', a.id, sentAs(a.id), `automation ${a.id} kept`, at)]);
    server.ctx.live.off('change', onChange);
    expect(changes).toEqual([{ farm: FARM, kind: 'automation', id: a.id }]);
    expect((await view(a.id)).onGateway).toEqual({
      state: 'applied',
      version: 1,
      gateway: 'gw-a',
      at: new Date(at).toISOString(),
    });
  });

  it('is refused when one gateway refused it, whatever another did, with its reason', async () => {
    const res = await farmer(`/api/v1/automations/${a.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body({ limits: { maxRunsPerDay: 2, maxOpenMinutes: 120 } }), version: 1 }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const v2 = (await res.json()) as AutomationView;
    // gw-a's report was about version 1: version 2 waits.
    expect(v2.onGateway).toEqual({ state: 'pending', version: 2 });
    const v = sentAs(a.id);
    const reason =
      '/below/device: no device "gate-1" on this gateway; the previous version (v1) keeps running';
    const refusedAt = Date.now() - 1000;
    await gwA.send([report('downlink_applied', a.id, v, `automation ${a.id} kept`)]);
    await gwB.send([report('downlink_refused', a.id, v, reason, refusedAt)]);
    const got = await view(a.id);
    expect(got.onGateway).toEqual({
      state: 'refused',
      version: 2,
      reason,
      gateway: 'gw-b',
      at: new Date(refusedAt).toISOString(),
    });
    // The list says the same.
    const list = (await (await farmer(`/api/v1/automations?farm=${FARM}`)).json()) as AutomationView[];
    expect(list.find((x) => x.id === a.id)?.onGateway).toEqual(got.onGateway);
  });

  it('takes a reason the gateway put in the detail, and cuts a long one', async () => {
    const v = sentAs(a.id);
    const long = `/trigger/device: ${'x'.repeat(800)}`;
    await gwB.send([
      report('downlink_refused', a.id, v, 'the message', Date.now(), {
        kind: 'automation',
        id: a.id,
        version: v,
        reason: long,
      }),
    ]);
    const reason = (await view(a.id)).onGateway.reason!;
    expect(reason).toHaveLength(500);
    expect(reason).toBe(`${long.slice(0, 499)}…`);
  });

  it('no longer counts a gateway once it is revoked', async () => {
    server.ctx.auth.revokeGateway('gw-b');
    expect((await view(a.id)).onGateway).toMatchObject({ state: 'applied', version: 2, gateway: 'gw-a' });
  });
});
