// Rotating one device's key from the browser's provisioning API, over a gateway provisioned on the
// farm: the new secret comes back once (in the response's files, never again, never stored), the
// registry sent down carries its hash, and once the real gateway applies it the device's OLD
// secret is refused by the broker while the new one logs in — the other devices keep theirs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import type { ManifestCheckResult, ProvisionResult } from '../../protocol/views.ts';
import { DEMO_MANIFEST_FILE, eventually, signIn, startRegisteredStack } from '../helpers/stack.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-rotate-'));
let env: Awaited<ReturnType<typeof startRegisteredStack>>;
let partner: Awaited<ReturnType<typeof signIn>>;
const TEXT = readFileSync(DEMO_MANIFEST_FILE, 'utf8');

const post = (path: string, body: unknown) =>
  partner(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
/** Connects as a device; resolves the client, or the broker's refusal as an Error. */
const login = (username: string, password: string) =>
  mqtt.connectAsync(env.stack.mqttUrl, { username, password, reconnectPeriod: 0 }).catch((e: Error) => e);

beforeAll(async () => {
  env = await startRegisteredStack(dir, 'gw-rotate');
  partner = await signIn(env.url, 'demo-partner');
  // The gateway's registry (its keys, made on the farm) has reached the server.
  await eventually(async () => {
    const res = await post('/api/v1/farms/demo-farm/manifest/check', { text: TEXT });
    return ((await res.json()) as ManifestCheckResult).keys?.gatewayRegistry;
  }, 15_000);
}, 60_000);

afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('rotating a device key through the provisioning API', () => {
  it('issues the new secret once; once the gateway applies the registry the old secret is refused', async () => {
    const { stack } = env;
    const old = stack.secrets['wx-1']!;
    // Before: wx-1 logs in with the secret it was given on the farm.
    const before = await login('wx-1', old);
    expect(before).not.toBeInstanceOf(Error);
    await (before as mqtt.MqttClient).endAsync();

    const res = await post('/api/v1/farms/demo-farm/provision', {
      text: TEXT,
      rotate: 'wx-1',
      broker: { host: '127.0.0.1' },
    });
    expect(res.status).toBe(200);
    const result = (await res.json()) as ProvisionResult;
    expect(result.issued).toEqual(['wx-1']);
    expect(result.kept.sort()).toEqual(['soil-1', 'water-1']);
    const config = JSON.parse(result.devices.find((d) => d.id === 'wx-1')!.files!.config) as {
      mqtt: { secret: string; topic: string };
    };
    const fresh = config.mqtt.secret;
    expect(fresh).not.toBe(old);
    const sent = env.server.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry;
    expect(sent.devices.find((d) => d.id === 'wx-1')!.secretHash).toBe(hashSecret(fresh));

    // The gateway fetches the registry sent down and reloads it: the old secret stops working.
    await eventually(() => stack.gateway.registry.get('wx-1')?.secretHash === hashSecret(fresh), 15_000);
    const refused = await login('wx-1', old);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/Bad username or password/);
    const client = await login('wx-1', fresh);
    expect(client).not.toBeInstanceOf(Error);
    await (client as mqtt.MqttClient).endAsync();
    // The others were not touched.
    const soil = await login('soil-1', stack.secrets['soil-1']!);
    expect(soil).not.toBeInstanceOf(Error);
    await (soil as mqtt.MqttClient).endAsync();

    // Once: provisioning again returns no file for wx-1 (the secret exists nowhere on the server),
    // and keeps the rotated key.
    const again = (await (
      await post('/api/v1/farms/demo-farm/provision', { text: TEXT, broker: { host: '127.0.0.1' } })
    ).json()) as ProvisionResult;
    expect(again.issued).toEqual([]);
    expect(again.devices.find((d) => d.id === 'wx-1')!.files).toBeNull();
    const kept = env.server.ctx.downlink.get('demo-farm', 'registry', 'registry')!.body as Registry;
    expect(kept.devices.find((d) => d.id === 'wx-1')!.secretHash).toBe(hashSecret(fresh));
    env.server.ctx.db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(join(dir, 'server', 'server.db')).includes(Buffer.from(fresh))).toBe(false);
  });
});
