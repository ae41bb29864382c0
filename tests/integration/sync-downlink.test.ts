// Registration, revocation and the downlink: a gateway registered with `hatake gateway register`
// gets the server's signing key; documents the server publishes reach it over the SSE stream,
// are verified and applied; a tampered model artifact or a forged signature is refused with a
// clear reason, the previous model stays in use, and the refusal is reported to the server.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { registerGateway } from '../../gateway/register.ts';
import { parseCard, sha256Hex } from '../../edge/inference/registry.ts';
import { checkSessionAgainstCard } from '../../edge/inference/session-check.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { ZoneCollection } from '../../protocol/imagery.ts';
import { validator } from '../../protocol/validate.ts';
import { downlinkSigningText } from '../../protocol/downlink.ts';
import { ARTIFACTS_DIR } from '../../models/paths.ts';
import { demoManifest, eventually, signIn, startRegisteredStack, type Stack } from '../helpers/stack.ts';
import { demoZones } from '../helpers/recommendation.ts';
import type { HatakeServer } from '../../dashboard/server.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

const card = (name: string) =>
  JSON.parse(readFileSync(join(ARTIFACTS_DIR, `${name}.card.json`), 'utf8')) as {
    id: string;
    version: string;
    sha256: string;
  };
const onnx = (name: string) => readFileSync(join(ARTIFACTS_DIR, `${name}.onnx`));

async function registered(
  opts: { publicKey?: string } = {},
): Promise<{ server: HatakeServer; url: string; stack: Stack; token: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hatake-downlink-'));
  const r = await startRegisteredStack(dir, 'gw-dl', opts);
  cleanups.push(
    async () => rmSync(dir, { recursive: true, force: true }),
    () => r.close(),
  );
  return r;
}

async function publishModel(url: string, name: string): Promise<{ version: number; sha256: string }> {
  const admin = await signIn(url, 'admin');
  const res = await admin('/api/v1/farms/demo-farm/models', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ card: card(name), onnx: onnx(name).toString('base64') }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { version: number; sha256: string };
}

const events = (server: HatakeServer, type: string) =>
  server.ctx.db.prepare('SELECT message, detail FROM events WHERE type = ? ORDER BY time').all(type) as {
    message: string;
    detail: string;
  }[];

/** The ONNX bytes re-encoded with a different model_version, or with one graph constant changed. */
function onnxVariant(
  bytes: Uint8Array,
  change: { modelVersion?: number; constant?: [string, number] },
): Buffer {
  const m = onnxProto.onnx.ModelProto.decode(bytes);
  if (change.modelVersion !== undefined) m.modelVersion = change.modelVersion;
  if (change.constant) {
    const [name, value] = change.constant;
    const init = m.graph?.initializer?.find((t) => t.name === name);
    if (!init || init.doubleData?.length !== 1) throw new Error(`no double constant ${name} in the graph`);
    init.doubleData = [value];
  }
  return Buffer.from(onnxProto.onnx.ModelProto.encode(m).finish());
}

/** Whether the bytes load in onnxruntime and have the card's inputs and outputs. */
async function loadsAndMatchesCard(bytes: Uint8Array, card: unknown): Promise<boolean> {
  const { InferenceSession } = (await import('onnxruntime-node')).default;
  const session = await InferenceSession.create(bytes);
  try {
    checkSessionAgainstCard(parseCard(JSON.stringify(card), 'test card'), session);
    return true;
  } finally {
    await session.release();
  }
}

/** The demo farm with its upland field growing corn (holland-schepers-si serves corn). */
function cornOnUpland(): Manifest {
  const m = demoManifest();
  return {
    ...m,
    fields: m.fields.map((f) =>
      f.id === 'upland-1'
        ? {
            ...f,
            crop: 'corn',
            observations: {
              n_preplant_kg_ha: { value: 40, date: '2026-05-01', note: 'farm diary' },
              n_credit_kg_ha: { value: 10, date: '2026-05-01', note: 'soybean credit' },
            },
          }
        : f,
    ),
  };
}

/** Publishes through the server's downlink with `signature` in place of the one it would make. */
function withSignature<T>(server: HatakeServer, signature: string, publish: () => T): T {
  const sign = server.ctx.downlink.sign;
  server.ctx.downlink.sign = () => signature;
  try {
    return publish();
  } finally {
    server.ctx.downlink.sign = sign;
  }
}

/** The holland-schepers-si version and sha256 the gateway's recommender uses for the corn field. */
/** The gateway holds model 1.0.0 as the server sent it (`good`), and no file of 1.1.0. */
function expectOnlyFirstVersion(stack: Stack, good: { version: number; sha256: string }): void {
  expect(stack.gateway.store.documents('model')).toEqual([
    {
      id: 'holland-schepers-si',
      version: good.version,
      body: { id: 'holland-schepers-si', version: '1.0.0', sha256: good.sha256 },
    },
  ]);
  const models = join(stack.gateway.config.dataDir, 'models');
  expect(existsSync(join(models, 'holland-schepers-si@1.1.0.onnx'))).toBe(false);
  expect(existsSync(join(models, 'holland-schepers-si@1.1.0.card.json'))).toBe(false);
}

async function servingVersion(stack: Stack): Promise<[string, string | undefined] | undefined> {
  const recs = await stack.gateway.recommender.forScene(
    cornOnUpland(),
    'gw-dl',
    validator(ZoneCollection).parse(demoZones(), 'demo zones'),
    new Map(),
    Date.now(),
  );
  expect(stack.gateway.recommender.refused).toEqual([]);
  const r = recs.find((x) => x.field === 'upland-1' && x.model.id === 'holland-schepers-si');
  return r ? [r.model.version, r.model.sha256] : undefined;
}

describe('downlink', () => {
  it('installs a signed model the server sends, told over the stream, and reports it', async () => {
    const { server, url, stack } = await registered();
    const { sha256 } = await publishModel(url, 'holland-schepers-si@1.0.0');
    const file = join(stack.gateway.config.dataDir, 'models', 'holland-schepers-si@1.0.0.onnx');
    await eventually(() => existsSync(file), 20_000, 50);
    expect(readFileSync(file)).toEqual(onnx('holland-schepers-si@1.0.0'));
    expect(stack.gateway.store.documents('model')).toMatchObject([
      { id: 'holland-schepers-si', body: { sha256 } },
    ]);
    await eventually(
      () =>
        events(server, 'downlink_applied').some((e) =>
          e.message.includes('holland-schepers-si@1.0.0 installed'),
        ),
      20_000,
      100,
    );
    // The server's gateway list shows what the gateway has applied.
    type GatewayRow = { id: string; downlinkVersion: number; farmDownlinkVersion: number };
    await eventually(
      async () => {
        const list = (await (await (await signIn(url, 'admin'))('/api/v1/gateways')).json()) as GatewayRow[];
        return (
          list.find((g) => g.id === 'gw-dl')?.downlinkVersion ===
          list.find((g) => g.id === 'gw-dl')?.farmDownlinkVersion
        );
      },
      20_000,
      200,
    );
  });

  it('refuses a tampered newer version of the installed model, keeps using the installed one and reports it', async () => {
    const { server, url, stack } = await registered();
    const good = await publishModel(url, 'holland-schepers-si@1.0.0');
    await eventually(() => stack.gateway.store.documents('model').length === 1, 20_000, 50);
    // holland-schepers-si 1.1.0, signed by the server with the sha256 of its real artifact; on the
    // server's disk that artifact was then altered (a bad disk, an intruder): one constant of the
    // graph changed. The altered bytes still load and match the card's inputs and outputs, so only
    // the sha256 check stands between them and the farm.
    const genuine = onnxVariant(onnx('holland-schepers-si@1.0.0'), { modelVersion: 2 });
    const tampered = onnxVariant(genuine, { constant: ['c1', 5] });
    const newer = {
      ...card('holland-schepers-si@1.0.0'),
      version: '1.1.0',
      file: 'holland-schepers-si@1.1.0.onnx',
      sha256: sha256Hex(genuine),
    };
    expect(sha256Hex(tampered)).not.toBe(newer.sha256);
    await expect(loadsAndMatchesCard(tampered, newer)).resolves.toBe(true);
    writeFileSync(join(server.opts.dataDir, 'artifacts', `${newer.sha256}.onnx`), tampered);
    server.ctx.downlink.publish('demo-farm', 'model', 'holland-schepers-si@1.1.0', {
      id: newer.id,
      version: newer.version,
      sha256: newer.sha256,
      card: newer,
    });
    await eventually(() => events(server, 'downlink_refused').length > 0, 20_000, 100);
    const refusals = events(server, 'downlink_refused');
    expect(refusals).toHaveLength(1);
    expect(refusals[0]!.message).toContain(
      `artifact sha256 ${sha256Hex(tampered)} does not match the signed card's ${newer.sha256}`,
    );
    expect(JSON.parse(refusals[0]!.detail)).toMatchObject({
      kind: 'model',
      id: 'holland-schepers-si@1.1.0',
      code: 'HATAKE_E_MODEL_INTEGRITY',
    });
    // The gateway still holds 1.0.0, as the server sent it, and nothing of 1.1.0 was installed.
    expectOnlyFirstVersion(stack, good);
    // And 1.0.0 is what the gateway's recommender uses for a corn field (the highest version
    // installed serves, so an installed 1.1.0 would have taken over).
    expect(await servingVersion(stack)).toEqual(['1.0.0', good.sha256]);
  });

  it('refuses a newer model whose body or signature was altered after the server signed it, keeps the installed one and reports it', async () => {
    const { server, url, stack } = await registered(); // the gateway trusts the server's real key
    const good = await publishModel(url, 'holland-schepers-si@1.0.0');
    await eventually(() => stack.gateway.store.documents('model').length === 1, 20_000, 50);
    await eventually(
      () => events(server, 'downlink_applied').some((e) => e.message.includes('holland-schepers-si@1.0.0')),
      20_000,
      100,
    );
    expect(await servingVersion(stack)).toEqual(['1.0.0', good.sha256]);

    // holland-schepers-si 1.1.0 as the server signed it, with its genuine artifact on the server.
    const genuine = onnxVariant(onnx('holland-schepers-si@1.0.0'), { modelVersion: 2 });
    const newer = {
      ...card('holland-schepers-si@1.0.0'),
      version: '1.1.0',
      file: 'holland-schepers-si@1.1.0.onnx',
      sha256: sha256Hex(genuine),
    };
    const signedBody = { id: newer.id, version: newer.version, sha256: newer.sha256, card: newer };
    writeFileSync(join(server.opts.dataDir, 'artifacts', `${newer.sha256}.onnx`), genuine);
    // An intruder in the server's store swaps in an altered artifact and rewrites the document's
    // sha256 (document and card) to match it, leaving the signature of the genuine document (its
    // envelope: farm, kind, id, the version it is published under, body). Every check but the
    // signature would pass: the sha256 matches and the graph loads and fits the card.
    const tampered = onnxVariant(genuine, { constant: ['c1', 5] });
    const forged = { ...newer, sha256: sha256Hex(tampered) };
    await expect(loadsAndMatchesCard(tampered, forged)).resolves.toBe(true);
    writeFileSync(join(server.opts.dataDir, 'artifacts', `${forged.sha256}.onnx`), tampered);
    const downlink = server.ctx.downlink;
    const sign = downlink.sign!;
    // The server's signature of the genuine body published as the farm's next version.
    const signedNext = () =>
      sign(
        downlinkSigningText({
          farm: 'demo-farm',
          kind: 'model',
          id: 'holland-schepers-si@1.1.0',
          version: downlink.latestVersion('demo-farm') + 1,
          deleted: false,
          bodyJson: JSON.stringify(signedBody),
        }),
      );
    const genuineSignature = signedNext();
    const forgedVersion = withSignature(server, genuineSignature, () =>
      downlink.publish('demo-farm', 'model', 'holland-schepers-si@1.1.0', {
        ...signedBody,
        sha256: forged.sha256,
        card: forged,
      }),
    );
    expect(downlink.get('demo-farm', 'model', 'holland-schepers-si@1.1.0')!.signature).toBe(genuineSignature);
    await eventually(() => events(server, 'downlink_refused').length === 1, 20_000, 100);
    // The genuine body, its signature altered on the way (one bit flipped).
    const flipped = Buffer.from(signedNext(), 'base64');
    flipped[10]! ^= 0x01;
    const flippedVersion = withSignature(server, flipped.toString('base64'), () =>
      downlink.publish('demo-farm', 'model', 'holland-schepers-si@1.1.0', signedBody),
    );
    await eventually(() => events(server, 'downlink_refused').length === 2, 20_000, 100);

    const refusals = events(server, 'downlink_refused');
    // The message names the document once.
    for (const [r, v] of [
      [refusals[0]!, forgedVersion],
      [refusals[1]!, flippedVersion],
    ] as const) {
      expect(r.message).toMatch(
        new RegExp(
          `^refused model holland-schepers-si@1\\.1\\.0 v${v}: signature does not verify with the server key$`,
        ),
      );
    }
    expect(refusals.map((r) => JSON.parse(r.detail) as unknown)).toEqual([
      {
        kind: 'model',
        id: 'holland-schepers-si@1.1.0',
        version: forgedVersion,
        code: 'HATAKE_E_MODEL_INTEGRITY',
      },
      {
        kind: 'model',
        id: 'holland-schepers-si@1.1.0',
        version: flippedVersion,
        code: 'HATAKE_E_MODEL_INTEGRITY',
      },
    ]);
    // Nothing of 1.1.0 was installed; 1.0.0 is kept and still serves.
    expectOnlyFirstVersion(stack, good);
    const models = join(stack.gateway.config.dataDir, 'models');
    expect(await servingVersion(stack)).toEqual(['1.0.0', good.sha256]);

    // The control: the same body with the signature the server made is installed, so the two
    // refusals above were the signature's doing, not a missing artifact or a bad card.
    downlink.publish('demo-farm', 'model', 'holland-schepers-si@1.1.0', signedBody);
    await eventually(
      () =>
        events(server, 'downlink_applied').some((e) =>
          e.message.includes('holland-schepers-si@1.1.0 installed'),
        ),
      20_000,
      100,
    );
    expect(readFileSync(join(models, 'holland-schepers-si@1.1.0.onnx'))).toEqual(genuine);
    expect(await servingVersion(stack)).toEqual(['1.1.0', newer.sha256]);
  });

  it('refuses every document whose signature does not verify with the key the gateway trusts', async () => {
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const { server, url, stack } = await registered({ publicKey: other });
    await publishModel(url, 'holland-schepers-si@1.0.0');
    await eventually(
      () => events(server, 'downlink_refused').some((e) => /signature does not verify/.test(e.message)),
      20_000,
      100,
    );
    expect(stack.gateway.store.documents('model')).toEqual([]);
  });

  it('applies a new device registry sent down, so a device provisioned on the server can connect', async () => {
    const { server, stack } = await registered();
    const reg = JSON.parse(readFileSync(stack.gateway.config.registry, 'utf8')) as {
      farm: string;
      devices: { id: string }[];
    };
    const { hashSecret } = await import('../../protocol/registry.ts');
    reg.devices.push({
      id: 'soil-2',
      kit: 'hatake-soil-probe',
      secretHash: hashSecret('a-new-device-secret-0123456789'),
    } as never);
    server.ctx.downlink.publish('demo-farm', 'registry', 'registry', reg);
    await eventually(() => stack.gateway.registry.get('soil-2') !== undefined, 20_000, 50);
    expect(stack.gateway.registry.authenticate('soil-2', Buffer.from('a-new-device-secret-0123456789'))).toBe(
      true,
    );
    // A registry for another farm is refused and changes nothing.
    server.ctx.downlink.publish('demo-farm', 'registry', 'registry', { ...reg, farm: 'other-farm' });
    await eventually(
      () => events(server, 'downlink_refused').some((e) => /another|farm/.test(e.message)),
      20_000,
      100,
    );
    expect(stack.gateway.registry.get('soil-2')).toBeDefined();
  });
});

describe('registration and revocation', () => {
  it('stops a revoked gateway with a clear 401', async () => {
    const { url, stack } = await registered();
    await eventually(() => stack.gateway.sync!.status.lastSuccess !== null, 20_000, 50);
    const admin = await signIn(url, 'admin');
    expect((await admin('/api/v1/gateways/gw-dl', { method: 'DELETE' })).status).toBe(204);
    stack.gateway.store.enqueue(
      'event',
      { id: 'after-revocation-1', type: 'disk_ok', severity: 'info', time: Date.now(), message: 'x' },
      Date.now(),
    );
    stack.gateway.sync!.kick();
    await eventually(() => stack.gateway.sync!.status.stopped !== null, 20_000, 50);
    expect(stack.gateway.sync!.status.stopped).toMatch(/HTTP 401/);
    expect(stack.gateway.status().health.problems).toContain('sync stopped: token refused');
    // A farmer may not register gateways; a partner of another farm may not either.
    const farmer = await signIn(url, 'demo-farmer');
    expect(
      (
        await farmer('/api/v1/gateways', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id: 'gw-x', farm: 'demo-farm' }),
        })
      ).status,
    ).toBe(403);
    await expect(
      registerGateway({
        server: url,
        farm: 'demo-farm',
        id: 'gw-y',
        user: 'demo-farmer',
        password: 'hatake-demo',
        outDir: join(stack.dir, 'x'),
      }),
    ).rejects.toThrow(/refused \(HTTP 403\)/);
  });
});
