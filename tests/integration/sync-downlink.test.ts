// Registration, revocation and the downlink: a gateway registered with `hatake gateway register`
// gets the server's signing key; documents the server publishes reach it over the SSE stream,
// are verified and applied; a tampered model artifact or a forged signature is refused with a
// clear reason, the previous model stays in use, and the refusal is reported to the server.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { registerGateway } from '../../gateway/register.ts';
import { ARTIFACTS_DIR } from '../../models/paths.ts';
import { eventually, signIn, startRegisteredStack, type Stack } from '../helpers/stack.ts';
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

  it('refuses a tampered artifact, keeps the previous model and reports the refusal', async () => {
    const { server, url, stack } = await registered();
    const good = await publishModel(url, 'holland-schepers-si@1.0.0');
    await eventually(() => stack.gateway.store.documents('model').length === 1, 20_000, 50);
    // A second model whose artifact was altered on the server's disk (a bad disk, an intruder):
    // the signed document names the card's sha256, the bytes served are not those.
    const tampered = onnx('osu-sbnrc@1.0.0');
    tampered[tampered.length - 10] ^= 0xff;
    const c = card('osu-sbnrc@1.0.0');
    writeFileSync(join(server.opts.dataDir, 'artifacts', `${c.sha256}.onnx`), tampered);
    server.ctx.downlink.publish('demo-farm', 'model', 'osu-sbnrc@1.0.0', {
      id: c.id,
      version: c.version,
      sha256: c.sha256,
      card: c,
    });
    await eventually(() => events(server, 'downlink_refused').length > 0, 20_000, 100);
    const refusal = events(server, 'downlink_refused')[0]!;
    expect(refusal.message).toMatch(/artifact sha256 [0-9a-f]{64} does not match the signed card's/);
    expect(JSON.parse(refusal.detail)).toMatchObject({ kind: 'model', code: 'HATAKE_E_MODEL_INTEGRITY' });
    // The previous model is still installed, the tampered one is not.
    expect(stack.gateway.store.documents('model').map((d) => d.id)).toEqual(['holland-schepers-si']);
    expect(existsSync(join(stack.gateway.config.dataDir, 'models', 'osu-sbnrc@1.0.0.onnx'))).toBe(false);
    expect(good.sha256).toBe(card('holland-schepers-si@1.0.0').sha256);
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
