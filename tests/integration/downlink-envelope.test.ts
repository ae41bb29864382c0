// The downlink signature covers the whole document — farm, kind, id, version, withdrawal and body
// (protocol/downlink.ts) — not the body alone. Between a real server and a real gateway sits a
// front that can rewrite the server's downlink answers, as a TLS-terminating proxy or a relay in
// the transport path could: a document turned into a withdrawal, its version changed, relabelled
// as another kind or id, a withdrawal's signature put on another document, another farm's
// document, an older genuine document sent again — each is refused with its reason and code,
// nothing of it is applied, and a version changed on the way never makes the gateway skip ahead.
// Documents stored by a server before the envelope are signed again as they are served.
import { createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerGateway } from '../../gateway/register.ts';
import { REMOTE_CONFIG_FILE } from '../../gateway/remote-config.ts';
import { DEMO_PASSWORD } from '../../dashboard/demo.ts';
import type { HatakeServer } from '../../dashboard/server.ts';
import { wireDocument } from '../../dashboard/downlink.ts';
import {
  DOWNLINK_SIGNED_AS,
  downlinkSigningText,
  type DownlinkPage,
  type DownlinkWireDocument,
} from '../../protocol/downlink.ts';
import type { FieldStageDoc, FieldStageView } from '../../protocol/field-stage.ts';
import { eventually, signIn, startServer, startStack, type Stack } from '../helpers/stack.ts';

const DAY = 86_400_000;
const jstDate = (t: number) => new Date(t + 9 * 3_600_000).toISOString().slice(0, 10);

/**
 * A front for the server that hands every downlink answer (GET /api/v1/downlink?…) to `tamper`
 * before the gateway sees it, and keeps the pages as the server sent them; everything else (the
 * stream, the uplink) passes through untouched.
 */
class TamperingFront {
  tamper: ((page: DownlinkPage) => DownlinkPage) | undefined;
  readonly pages: DownlinkPage[] = [];
  url = '';
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly target: URL;

  constructor(target: string) {
    this.target = new URL(target);
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.forward(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const page = req.method === 'GET' && (req.url ?? '').startsWith('/api/v1/downlink?');
    const headers = { ...req.headers, host: this.target.host };
    if (page) delete headers['accept-encoding']; // plain JSON to rewrite
    const up = request(
      { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers },
      (upRes) => {
        if (!page || upRes.statusCode !== 200) {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          res.flushHeaders();
          upRes.pipe(res);
          res.on('close', () => upRes.destroy());
          return;
        }
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          const sent = JSON.parse(Buffer.concat(chunks).toString('utf8')) as DownlinkPage;
          this.pages.push(structuredClone(sent));
          const body = Buffer.from(JSON.stringify(this.tamper ? this.tamper(sent) : sent));
          const { 'transfer-encoding': _, ...h } = upRes.headers;
          res.writeHead(200, { ...h, 'content-length': String(body.length) });
          res.end(body);
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** `page` with the documents `match` picks changed by `change`. */
const changing =
  (match: (d: DownlinkWireDocument) => boolean, change: (d: DownlinkWireDocument) => DownlinkWireDocument) =>
  (page: DownlinkPage): DownlinkPage => ({
    ...page,
    documents: page.documents.map((d) => (match(d) ? change(d) : d)),
  });

/** `page` with `doc` added at its end (and `farm` in place of the page's farm, if given). */
const adding =
  (doc: DownlinkWireDocument, farm?: string) =>
  (page: DownlinkPage): DownlinkPage => ({
    farm: farm ?? page.farm,
    latest: Math.max(page.latest, doc.version),
    documents: [...page.documents, doc],
  });

const dir = mkdtempSync(join(tmpdir(), 'hatake-downlink-envelope-'));
let server: HatakeServer;
let url: string;
let front: TamperingFront;
let stack: Stack;
let publicKey: string;
let admin: Awaited<ReturnType<typeof signIn>>;
let farmer: Awaited<ReturnType<typeof signIn>>;

beforeAll(async () => {
  ({ server, url } = await startServer(dir));
  const reg = await registerGateway({
    server: url,
    farm: 'demo-farm',
    id: 'gw-envelope',
    user: 'admin',
    password: DEMO_PASSWORD,
    outDir: join(dir, 'reg'),
  });
  publicKey = readFileSync(reg.publicKeyFile, 'utf8');
  front = new TamperingFront(url);
  await front.start();
  stack = await startStack({
    server: false,
    gateway: {
      id: 'gw-envelope',
      server: { url: front.url, token: readFileSync(reg.tokenFile, 'utf8').trim(), publicKey },
      // Polled by the test (and on the stream's notices): the interval is far longer than the test.
      sync: { intervalMs: 200, batchDelayMs: 20, downlinkIntervalMs: 600_000 },
    },
  });
  // The server knows the farm's fields once the gateway has synced its manifest.
  await eventually(
    () => server.ctx.db.prepare("SELECT 1 FROM fields WHERE farm = 'demo-farm' AND id = 'paddy-1'").get(),
    20_000,
  );
  admin = await signIn(url, 'admin');
  farmer = await signIn(url, 'demo-farmer');
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await front?.stop();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const json = { 'content-type': 'application/json' };
const gw = () => stack.gateway;
const downlink = () => stack.gateway.downlink!;

/** Sends a gateway configuration (as an admin); its downlink version. */
async function putConfig(body: unknown): Promise<number> {
  const res = await admin('/api/v1/farms/demo-farm/gateway-config', {
    method: 'PUT',
    headers: json,
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { version: number }).version;
}

/** Records a growth stage of paddy-1 (as the farmer); its downlink version. */
async function putStage(stage: string): Promise<number> {
  const res = await farmer('/api/v1/farms/demo-farm/fields/paddy-1/stage', {
    method: 'PUT',
    headers: json,
    body: JSON.stringify({ stage, date: jstDate(Date.now()) }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  const { downlinkVersion } = (await res.json()) as FieldStageView;
  expect(downlinkVersion).toBeTypeOf('number');
  return downlinkVersion!;
}

/** Publishes with `tamper` on every downlink answer until the gateway has polled. */
async function through<T>(
  tamper: (page: DownlinkPage) => DownlinkPage,
  publish: () => Promise<T> | T,
): Promise<T> {
  front.tamper = tamper;
  try {
    const out = await publish();
    await downlink().poll();
    return out;
  } finally {
    front.tamper = undefined;
  }
}

/** The gateway's refusal of document `name` ("kind id vN"): its message and detail. */
function refusalOf(name: string) {
  return gw().events.recent.find(
    (e) => e.type === 'downlink_refused' && e.message.startsWith(`refused ${name}:`),
  );
}
const appliedOf = (name: string) =>
  gw().events.recent.find((e) => e.type === 'downlink_applied' && e.message.startsWith(`applied ${name}:`));

const keptConfig = () => gw().store.documents<unknown>('config');
const keptStage = () =>
  gw()
    .store.documents<FieldStageDoc>('stage')
    .find((d) => d.id === 'paddy-1');
const keptRecommendations = () =>
  gw()
    .store.documents<unknown>('recommendation')
    .map((d) => d.id);
const remoteConfigFile = () => join(gw().config.dataDir, REMOTE_CONFIG_FILE);

/** The wire form of the server's current document of a kind and id. */
function wire(farm: string, kind: 'config' | 'stage', id: string): DownlinkWireDocument {
  return wireDocument(server.ctx.downlink.get(farm, kind, id)!);
}

describe('the downlink envelope, between a real server and a real gateway', () => {
  let configV1: number;
  let stageV1: number;

  it('takes the documents the server signed, as they come', async () => {
    configV1 = await putConfig({ retention: { rawDays: 30 } });
    await downlink().poll();
    expect(gw().config.retention.rawMs).toBe(30 * DAY);
    expect(keptConfig()).toMatchObject([{ id: 'gateway', version: configV1 }]);
    stageV1 = await putStage('tillering');
    await downlink().poll();
    expect(keptStage()).toMatchObject({ version: stageV1, body: { stage: 'tillering' } });
    expect(downlink().version).toBe(server.ctx.downlink.latestVersion('demo-farm'));
    // What the server stores: the envelope's signature, which verifies with its public key.
    const doc = server.ctx.downlink.get('demo-farm', 'stage', 'paddy-1')!;
    const text = downlinkSigningText(doc);
    expect(text).toBe(
      `{"signed":"${DOWNLINK_SIGNED_AS}","farm":"demo-farm","kind":"stage","id":"paddy-1","version":${stageV1},"deleted":false,"body":${doc.bodyJson}}`,
    );
    expect(
      verify(null, Buffer.from(text), createPublicKey(publicKey), Buffer.from(doc.signature!, 'base64')),
    ).toBe(true);
    // The body alone is not what is signed.
    expect(
      verify(
        null,
        Buffer.from(doc.bodyJson),
        createPublicKey(publicKey),
        Buffer.from(doc.signature!, 'base64'),
      ),
    ).toBe(false);
  });

  it('refuses a document turned into a withdrawal on the way; the configuration in use stays', async () => {
    const before = downlink().version;
    const v2 = await through(
      changing(
        (d) => d.kind === 'config',
        (d) => ({ ...d, deleted: true }),
      ),
      () => putConfig({ retention: { rawDays: 20 } }),
    );
    const refusal = refusalOf(`config gateway v${v2}`);
    expect(refusal?.message).toBe(
      `refused config gateway v${v2}: signature does not verify with the server key`,
    );
    expect(refusal?.detail).toEqual({
      kind: 'config',
      id: 'gateway',
      version: v2,
      code: 'HATAKE_E_MODEL_INTEGRITY',
    });
    // Nothing applied: the configuration of v1 is in use and kept, not withdrawn, not replaced.
    expect(gw().config.retention.rawMs).toBe(30 * DAY);
    expect(keptConfig()).toMatchObject([{ id: 'gateway', version: configV1 }]);
    expect(JSON.parse(readFileSync(remoteConfigFile(), 'utf8'))).toMatchObject({ version: configV1 });
    expect(appliedOf(`config gateway v${v2}`)).toBeUndefined();
    expect(downlink().version).toBe(before); // not moved past a document it could not verify
    // The server tells it the refusal.
    await eventually(
      () =>
        server.ctx.db
          .prepare("SELECT 1 FROM events WHERE type = 'downlink_refused' AND message = ?")
          .get(`refused config gateway v${v2}: signature does not verify with the server key`),
      20_000,
      100,
    );

    // The control: the same document as the server sent it is applied at the next poll.
    await downlink().poll();
    expect(gw().config.retention.rawMs).toBe(20 * DAY);
    expect(keptConfig()).toMatchObject([{ id: 'gateway', version: v2 }]);
    expect(appliedOf(`config gateway v${v2}`)).toBeDefined();
  });

  it('refuses a document whose version was changed on the way, and does not skip ahead', async () => {
    const before = downlink().version;
    const v = await through(
      changing(
        (d) => d.kind === 'stage',
        (d) => ({ ...d, version: d.version + 1000 }),
      ),
      () => putStage('midseason_drainage'),
    );
    expect(refusalOf(`stage paddy-1 v${v + 1000}`)).toMatchObject({
      message: `refused stage paddy-1 v${v + 1000}: signature does not verify with the server key`,
      detail: { code: 'HATAKE_E_MODEL_INTEGRITY' },
    });
    expect(keptStage()).toMatchObject({ version: stageV1, body: { stage: 'tillering' } });
    // Had the forged version moved the gateway's, it would never ask for the next 1000 documents.
    expect(downlink().version).toBe(before);

    await downlink().poll();
    expect(keptStage()).toMatchObject({ version: v, body: { stage: 'midseason_drainage' } });
    stageV1 = v;
  });

  it('refuses documents relabelled as another kind or another id', async () => {
    const before = downlink().version;
    const [a, b] = await through(
      changing(
        (d) => d.kind === 'recommendation',
        (d) => (d.id === 'rec-a' ? { ...d, kind: 'override' } : { ...d, id: 'rec-a' }),
      ),
      () => [
        server.ctx.downlink.publish('demo-farm', 'recommendation', 'rec-a', {
          field: 'paddy-1',
          status: 'approved',
        }),
        server.ctx.downlink.publish('demo-farm', 'recommendation', 'rec-b', {
          field: 'upland-1',
          status: 'rejected',
        }),
      ],
    );
    for (const name of [`override rec-a v${a}`, `recommendation rec-a v${b}`])
      expect(refusalOf(name)?.message).toBe(`refused ${name}: signature does not verify with the server key`);
    expect(gw().store.documents('override')).toEqual([]);
    expect(keptRecommendations()).toEqual([]);
    expect(downlink().version).toBe(before);

    await downlink().poll();
    expect(keptRecommendations()).toEqual(['rec-a', 'rec-b']);
    expect(
      gw()
        .store.documents<unknown>('recommendation')
        .find((d) => d.id === 'rec-a')?.body,
    ).toEqual({
      field: 'paddy-1',
      status: 'approved',
    });
    expect(gw().store.documents('override')).toEqual([]);
  });

  it("refuses a withdrawal's signature on another document", async () => {
    // The configuration withdrawn, as the server sends it: body {}, like every withdrawal's.
    const del = await admin('/api/v1/farms/demo-farm/gateway-config', { method: 'DELETE' });
    expect(del.status).toBe(204);
    await downlink().poll();
    expect(gw().config.retention.rawMs).toBe(90 * DAY);
    expect(keptConfig()).toEqual([]);
    const withdrawal = wire('demo-farm', 'config', 'gateway');
    expect(withdrawal).toMatchObject({ bodyJson: '{}', deleted: true });

    // Its signature on a withdrawal of the field's stage, newer than anything the gateway has.
    const before = downlink().version;
    const forged: DownlinkWireDocument = { ...withdrawal, kind: 'stage', id: 'paddy-1', version: before + 1 };
    await through(adding(forged), () => undefined);
    expect(refusalOf(`stage paddy-1 v${before + 1}`)).toMatchObject({
      message: `refused stage paddy-1 v${before + 1}: signature does not verify with the server key`,
      detail: { kind: 'stage', id: 'paddy-1', version: before + 1, code: 'HATAKE_E_MODEL_INTEGRITY' },
    });
    expect(keptStage()).toMatchObject({ version: stageV1, body: { stage: 'midseason_drainage' } });
    expect(downlink().version).toBe(before);
  });

  it("refuses another farm's document, signed by the same server", async () => {
    const before = downlink().version;
    server.ctx.downlink.publish('other-farm', 'config', 'gateway', { retention: { rawDays: 7 } });
    const other = wire('other-farm', 'config', 'gateway');
    // As the server sent it to the other farm's gateway: its signature verifies, for that farm.
    await through(adding(other, 'other-farm'), () => undefined);
    expect(refusalOf(`config gateway v${other.version}`)).toMatchObject({
      message: `refused config gateway v${other.version}: the document is for farm "other-farm"; this gateway serves farm "demo-farm"`,
      detail: { kind: 'config', id: 'gateway', version: other.version, code: 'HATAKE_E_FORBIDDEN' },
    });
    // Slipped into this farm's answer: its signature does not cover this farm.
    const renamed = { ...other, version: before + 1 };
    await through(adding(renamed), () => undefined);
    expect(refusalOf(`config gateway v${before + 1}`)?.detail).toMatchObject({
      code: 'HATAKE_E_MODEL_INTEGRITY',
    });
    // Sent again: refused again, reported once.
    await through(adding(other, 'other-farm'), () => undefined);
    expect(
      gw().events.recent.filter(
        (e) =>
          e.type === 'downlink_refused' && e.message.startsWith(`refused config gateway v${other.version}:`),
      ),
    ).toHaveLength(1);
    expect(gw().config.retention.rawMs).toBe(90 * DAY);
    expect(keptConfig()).toEqual([]);
    expect(existsSync(remoteConfigFile())).toBe(false);
    expect(downlink().version).toBe(before);
  });

  it('refuses a genuine older document sent again; what was withdrawn stays withdrawn', async () => {
    // The configuration of v1 as the server sent it then, signature and all.
    const old = front.pages
      .flatMap((p) => p.documents)
      .find((d) => d.kind === 'config' && d.version === configV1)!;
    expect(old.deleted).toBe(false);
    const before = downlink().version;
    await through(adding(old), () => undefined);
    expect(refusalOf(`config gateway v${configV1}`)).toMatchObject({
      message: `refused config gateway v${configV1}: version ${configV1} is not newer than version ${before}, the last this gateway took (a document sent again or out of order)`,
      detail: { code: 'HATAKE_E_STATE_CONFLICT' },
    });
    expect(gw().config.retention.rawMs).toBe(90 * DAY);
    expect(keptConfig()).toEqual([]);
    expect(existsSync(remoteConfigFile())).toBe(false);
    expect(downlink().version).toBe(before);
  });

  it('takes documents a server stored before the envelope, signed again as they are served; not one changed since', async () => {
    const sign = server.ctx.downlink.sign!;
    // Two rows as an earlier server stored them: the signature over the body alone. The second's
    // body was changed in the store after it was signed.
    const legacy = (id: string, body: unknown, storedBody?: unknown) => {
      const version = server.ctx.downlink.publish('demo-farm', 'recommendation', id, body);
      server.ctx.db
        .prepare(
          'UPDATE downlink SET body = ?, signature = ?, signed_as = NULL WHERE farm = ? AND kind = ? AND id = ?',
        )
        .run(
          JSON.stringify(storedBody ?? body),
          sign(JSON.stringify(body)),
          'demo-farm',
          'recommendation',
          id,
        );
      return version;
    };
    const good = legacy('rec-legacy', { field: 'paddy-1', status: 'approved' });
    const bad = legacy(
      'rec-legacy-changed',
      { field: 'paddy-1', status: 'rejected' },
      { field: 'paddy-1', status: 'approved' },
    );
    await downlink().poll();
    expect(keptRecommendations()).toContain('rec-legacy');
    expect(keptRecommendations()).not.toContain('rec-legacy-changed');
    expect(appliedOf(`recommendation rec-legacy v${good}`)).toBeDefined();
    expect(refusalOf(`recommendation rec-legacy-changed v${bad}`)?.detail).toMatchObject({
      code: 'HATAKE_E_MODEL_INTEGRITY',
    });
    const row = (id: string) =>
      server.ctx.db
        .prepare(
          "SELECT signature, signed_as FROM downlink WHERE farm = 'demo-farm' AND kind = 'recommendation' AND id = ?",
        )
        .get(id) as { signature: string; signed_as: string | null };
    // Signed again over its envelope, and kept so; the changed one keeps the signature it had.
    expect(row('rec-legacy').signed_as).toBe(DOWNLINK_SIGNED_AS);
    const doc = server.ctx.downlink.get('demo-farm', 'recommendation', 'rec-legacy')!;
    expect(
      verify(
        null,
        Buffer.from(downlinkSigningText(doc)),
        createPublicKey(publicKey),
        Buffer.from(row('rec-legacy').signature, 'base64'),
      ),
    ).toBe(true);
    expect(row('rec-legacy-changed')).toEqual({
      signature: sign(JSON.stringify({ field: 'paddy-1', status: 'rejected' })),
      signed_as: null,
    });
  });

  it('neither takes nor skips a document signed as a server not yet upgraded signs (the body alone)', async () => {
    const sign = server.ctx.downlink.sign!;
    const before = downlink().version;
    const v = await through(
      changing(
        (d) => d.id === 'rec-old-server',
        (d) => ({ ...d, signature: sign(d.bodyJson) }),
      ),
      () =>
        server.ctx.downlink.publish('demo-farm', 'recommendation', 'rec-old-server', { status: 'approved' }),
    );
    expect(keptRecommendations()).not.toContain('rec-old-server');
    expect(downlink().version).toBe(before);
    expect(downlink().lastError).toBe(
      `recommendation rec-old-server v${v}: signed under the former scheme (the body alone); the server must be upgraded to sign the whole document`,
    );
    expect(refusalOf(`recommendation rec-old-server v${v}`)).toBeUndefined();
    // Once the server signs the envelope, it is taken.
    await downlink().poll();
    expect(keptRecommendations()).toContain('rec-old-server');
    expect(downlink().lastError).toBeNull();
    expect(downlink().version).toBe(server.ctx.downlink.latestVersion('demo-farm'));
  });
});
