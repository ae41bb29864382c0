// A real gateway broker (aedes on port 0, real SQLite) under random topics and payloads from
// authenticated and unauthenticated mqtt.js clients, a registered imagery provider, and raw bytes
// on the socket. Every publish is accounted for — stored, dead-lettered with its code, or refused
// and counted (gateway/metrics.ts) with the connection closed — the gateway keeps running, readings
// already stored are never changed, and a well-behaved device keeps getting its readings stored.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret, type Registry } from '../../protocol/registry.ts';
import { ERROR_CODES } from '../../protocol/errors.ts';
import { deviceTopic, parseDeviceTopic } from '../../protocol/topics.ts';
import { imageryTopicPrefix } from '../../protocol/imagery.ts';
import { newSecret } from '../../firmware-config/provision.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';
import { disturbed, gatewayReadings } from '../helpers/hostile-stores.ts';
import { fcParams, hostileJsonValue, hostileString, mutateJson } from '../helpers/hostile-values.ts';

const FARM = 'demo-farm';
const PROVIDER = 'sat-1';
let stack: Stack;
let providerSecret = '';
let good: MqttClient;
let goodTime = Date.now() - 3_600_000;

/** The sum of a counter over all its label values (or those matching `labels`). */
async function counter(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await stack.gateway.metrics.registry.getSingleMetric(name)?.get();
  return (m?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((a, v) => a + v.value, 0);
}

async function counters() {
  return {
    messages: await counter('hatake_gateway_messages_total'),
    rejected: await counter('hatake_gateway_rejected_total'),
    badLogin: await counter('hatake_gateway_refused_total', { reason: 'bad_login' }),
    topic: await counter('hatake_gateway_refused_total', { reason: 'topic' }),
    packet: await counter('hatake_gateway_refused_total', { reason: 'packet_size' }),
    readings: stack.gateway.store.readingCount(),
    // Reading rows of the outbox (device online/offline rows come and go with every connection).
    outbox: (
      stack.gateway.store.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'reading'").get() as {
        n: number;
      }
    ).n,
    dead: (stack.gateway.store.db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get() as { n: number }).n,
  };
}

/**
 * Connects; rejects with the broker's refusal (CONNACK code) — or with "closed" when the broker
 * hung up without a CONNACK, which mqtt.js's connectAsync would otherwise wait on for ever.
 */
function connectAs(username: string | undefined, password: string | Buffer | undefined): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(stack.mqttUrl, {
      username,
      password,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
      clientId: `fuzz-${Math.random().toString(36).slice(2)}`,
    });
    c.once('connect', () => resolve(c));
    c.once('error', (e) => {
      c.end(true);
      reject(e);
    });
    c.once('close', () => reject(Object.assign(new Error('closed without CONNACK'), { code: 'closed' })));
  });
}

/** Publishes and waits for the broker's answer: the PUBACK, or the connection closing. */
async function publishAndSettle(
  client: MqttClient,
  topic: string,
  payload: Buffer,
  qos: 0 | 1,
  patienceMs = 5_000,
): Promise<'acked' | 'closed' | 'client-refused' | 'no answer'> {
  const closed = new Promise<'closed'>((resolve) => {
    if (!client.connected) resolve('closed');
    client.once('close', () => resolve('closed'));
  });
  let sent: Promise<'acked'>;
  try {
    sent = client.publishAsync(topic, payload, { qos }).then(() => 'acked' as const);
  } catch {
    return 'client-refused';
  }
  const outcome = await Promise.race([
    sent.catch(() => 'client-refused' as const),
    closed,
    new Promise<'no answer'>((r) => setTimeout(() => r('no answer'), patienceMs)),
  ]);
  return outcome;
}

/** Sends one valid reading from the well-behaved device and checks it was stored. */
async function goodDeviceStillStored(): Promise<void> {
  goodTime += 1000;
  const t = goodTime;
  await good.publishAsync(
    deviceTopic(FARM, 'wx-1', 'up'),
    JSON.stringify({ time: t, values: { air_temperature: 12.5 } }),
    { qos: 1 },
  );
  const row = stack.gateway.store.db
    .prepare("SELECT value FROM readings WHERE device = 'wx-1' AND metric = 'air_temperature' AND time = ?")
    .get(t) as { value: number } | undefined;
  if (row?.value !== 12.5) throw new Error(`the well-behaved device's reading at ${t} was not stored`);
}

/**
 * Is the topic one aedes hands to hatake's authorisation at all? aedes itself closes the connection
 * for an empty topic, a wildcard in a publish, more than 100 levels (and mqtt.js may not send some).
 */
const reachesHatake = (t: string) =>
  t.length > 0 &&
  !t.includes('#') &&
  !t.includes('+') &&
  !t.includes('\u0000') &&
  t.split('/').length <= 100 &&
  Buffer.byteLength(t) < 65_535 &&
  t === Buffer.from(t, 'utf8').toString('utf8');

beforeAll(async () => {
  stack = await startStack({
    server: false,
    mqtt: { rate: { perSecond: 100_000, burst: 100_000 }, maxPacketBytes: 64 * 1024 },
  });
  // A registered imagery provider, as provisioning would add it; the broker re-reads the registry.
  providerSecret = newSecret();
  const file = join(stack.dir, 'registry.json');
  const reg = JSON.parse(readFileSync(file, 'utf8')) as Registry;
  reg.providers = [{ id: PROVIDER, secretHash: hashSecret(providerSecret), scopes: ['imagery'] }];
  writeFileSync(file, JSON.stringify(reg));
  expect(stack.gateway.registry.reload()).toBe(true);
  good = await connectAs('wx-1', stack.secrets['wx-1']);
  await goodDeviceStillStored();
}, 60_000);

afterAll(async () => {
  await good?.endAsync();
  await stack?.close();
});

const DEVICES = ['soil-1', 'wx-1', 'water-1'];

/** Topics a device might try: its own, another's, other farms', wildcards, traversal, garbage. */
const topicArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.oneof(fc.constantFrom(FARM, 'other-farm', '+', '#', '..'), hostileString()),
        fc.oneof(fc.constantFrom(...DEVICES, 'soil-1', '+', '..'), hostileString()),
        fc.oneof(fc.constantFrom('up', 'status', 'down', 'up/extra', ''), hostileString()),
      )
      .map(([f, d, k]) => `hatake/v1/${f}/${d}/${k}`.slice(0, 2000)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(hostileString(), fc.constantFrom('manifest', 'chunk/0', 'end', 'status'))
      .map(([s, k]) => `${imageryTopicPrefix(FARM)}${s.slice(0, 300)}/${k}`),
  },
  { weight: 1, arbitrary: hostileString().map((s) => s.slice(0, 2000)) },
  { weight: 1, arbitrary: fc.constantFrom('$SYS/broker', 'hatake/v1', 'hatake/v1/', '/', 'hatake//v1///') },
);

const VALID_TELEMETRY = { time: 1_780_000_000_000, values: { soil_vwc: 0.25, soil_ec: 0.7 } };
let uniqueTime = Date.now() - 7 * 86_400_000;
const payloadArb = fc.oneof(
  { weight: 3, arbitrary: mutateJson(VALID_TELEMETRY).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  { weight: 2, arbitrary: hostileJsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'undefined')) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: hostileString().map((s) => Buffer.from(s)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Buffer.alloc(0),
      Buffer.from('online'),
      Buffer.from('offline'),
      Buffer.alloc(20_000, 0x7b),
      Buffer.alloc(70_000, 0x7b),
    ),
  },
);

describe('the gateway broker under random topics and payloads', () => {
  it('refuses every unauthenticated login with CONNACK 4, counts it, and keeps serving', async () => {
    const login = fc.tuple(
      fc.oneof(
        fc.constantFrom(undefined, '', ...DEVICES, PROVIDER, 'admin', 'root'),
        hostileString().map((s) => s.slice(0, 500)),
      ),
      fc.oneof(
        fc.constantFrom(
          undefined,
          '',
          'hatake-demo',
          stack.secrets['wx-1']!,
          providerSecret.slice(0, -1) + 'x',
        ),
        hostileString().map((s) => s.slice(0, 500)),
        fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
      ),
    );
    await fc.assert(
      fc.asyncProperty(login, async ([user, password]) => {
        // The one right pair (wx-1 with its own secret) is not a hostile login.
        fc.pre(!(user === 'wx-1' && password === stack.secrets['wx-1']));
        const before = await counters();
        const outcome = await connectAs(user, password).then(
          async (c) => {
            await c.endAsync();
            return 'connected';
          },
          (e: Error & { code?: number }) => `refused ${e.code ?? e.message}`,
        );
        // A password without a user name breaks MQTT 3.1.1 itself: aedes hangs up without a CONNACK.
        const expected =
          user === undefined && password !== undefined ? /^refused (4|closed)$/ : /^refused 4$/;
        expect(outcome, `login as ${JSON.stringify(user)?.slice(0, 80)}`).toMatch(expected);
        const after = await counters();
        if (String(outcome).startsWith('refused 4')) expect(after.badLogin).toBe(before.badLogin + 1);
        expect(after.readings).toBe(before.readings);
        await goodDeviceStillStored();
      }),
      fcParams(40),
    );
  });

  it('accounts for every publish of an authenticated device: stored, dead-lettered with its code, or refused and counted', async () => {
    const before0 = gatewayReadings(stack.gateway.store.db);
    let fuzz: MqttClient | undefined;
    const outcomes: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<'soil-1' | 'sat-1'>('soil-1', 'soil-1', 'soil-1', 'sat-1'),
        topicArb,
        payloadArb,
        fc.constantFrom<0 | 1>(0, 1, 1),
        fc.boolean(),
        async (who, topic, payload, qos, ownUp) => {
          if (ownUp && who === 'soil-1') topic = deviceTopic(FARM, 'soil-1', 'up');
          // A fresh time per message: a resend of a stored reading is (rightly) not stored again.
          payload = Buffer.from(
            payload.toString('latin1').replaceAll(String(VALID_TELEMETRY.time), String(++uniqueTime)),
            'latin1',
          );
          if (!fuzz || !fuzz.connected || (fuzz.options.username ?? '') !== who) {
            await fuzz?.endAsync(true);
            fuzz = await connectAs(who, who === PROVIDER ? providerSecret : stack.secrets['soil-1']);
          }
          const before = await counters();
          const outcome = await publishAndSettle(
            fuzz,
            topic,
            payload,
            qos,
            reachesHatake(topic) ? 5_000 : 1_000,
          );
          if (outcome === 'no answer' && reachesHatake(topic))
            throw new Error(`no PUBACK and no close within 5 s for ${JSON.stringify(topic).slice(0, 120)}`);
          let parsed: ReturnType<typeof parseDeviceTopic> | undefined;
          try {
            parsed = parseDeviceTopic(topic);
          } catch {
            parsed = undefined;
          }
          const own = parsed && parsed.farm === FARM && parsed.device === who;
          const imagery = topic.startsWith(imageryTopicPrefix(FARM));
          let kind: string;
          if (outcome === 'client-refused' || !reachesHatake(topic)) {
            kind = 'not sent / refused by aedes';
            await fuzz.endAsync(true); // whatever state the client is in, start afresh
            expect((await counters()).readings).toBe(before.readings);
          } else if (payload.length + Buffer.byteLength(topic) + 8 > 64 * 1024) {
            kind = 'packet too large';
            await eventually(async () => (await counters()).packet > before.packet, 3_000);
            await eventually(() => !fuzz!.connected, 3_000); // the guard closed the connection
          } else if (who === 'soil-1' && own && parsed!.kind === 'up') {
            kind = 'telemetry';
            // Accounted for: readings stored, or one dead letter with a registered code.
            const after = await eventually(async () => {
              const c = await counters();
              return c.messages > before.messages && (c.readings > before.readings || c.dead > before.dead)
                ? c
                : undefined;
            }, 3_000);
            expect(after.messages).toBe(before.messages + 1);
            if (after.dead > before.dead) {
              expect(after.rejected).toBe(before.rejected + 1);
              expect(after.outbox).toBe(before.outbox); // a dead letter is not sent to the server
              const [dl] = stack.gateway.store.deadLetters(1);
              expect(dl!.code in ERROR_CODES, dl!.code).toBe(true);
              expect(dl!.topic).toBe(topic);
            } else {
              expect(after.readings).toBeGreaterThan(before.readings);
              expect(after.outbox - before.outbox).toBe(after.readings - before.readings); // one outbox row per reading
            }
            if (qos === 1) expect(outcome).toBe('acked');
          } else if (who === 'soil-1' && own && parsed!.kind === 'status') {
            kind = 'status';
            if (qos === 1) expect(outcome).toBe('acked');
          } else if (who === PROVIDER && imagery) {
            kind = 'imagery';
            if (qos === 1) expect(outcome).toBe('acked'); // answered on the status topic, never dropped
          } else {
            kind = 'refused topic';
            const after = await eventually(async () => {
              const c = await counters();
              return c.topic > before.topic ? c : undefined;
            }, 3_000).catch(async (e: Error) => {
              throw new Error(
                `${e.message}: ${who} ${JSON.stringify(topic).slice(0, 120)} ${payload.length} B qos ${qos} → ${outcome}, connected ${fuzz!.connected}, before ${JSON.stringify(before)}, now ${JSON.stringify(await counters())}`,
              );
            });
            expect(after.topic).toBe(before.topic + 1);
            expect(after.readings).toBe(before.readings);
            expect(after.dead).toBe(before.dead);
            expect(after.outbox).toBe(before.outbox);
            await eventually(() => !fuzz!.connected, 3_000); // MQTT 3.1.1: refusal closes the connection
          }
          if (outcome === 'closed') await eventually(() => !fuzz!.connected, 3_000);
          outcomes[kind] = (outcomes[kind] ?? 0) + 1;
          await goodDeviceStillStored();
        },
      ),
      // Each path is walked at least once whatever the seed: telemetry, a refused topic, imagery.
      fcParams(150, {
        examples: [
          ['soil-1', 'ignored', Buffer.from(JSON.stringify(VALID_TELEMETRY)), 1, true],
          ['soil-1', deviceTopic(FARM, 'wx-1', 'up'), Buffer.from('{}'), 1, false],
          [
            'sat-1',
            `${imageryTopicPrefix(FARM)}../../escaped/manifest`,
            Buffer.from('{"sceneId":"x"}'),
            1,
            false,
          ],
        ],
      }),
    );
    await fuzz?.endAsync(true);
    // Readings stored before the fuzzing are exactly as they were.
    expect(disturbed(before0, gatewayReadings(stack.gateway.store.db))).toEqual([]);
    // Scene ids from the provider never made the receiver write outside the gateway's data folder.
    expect(readdirSync(stack.dir).sort()).toEqual(['gateway', 'registry.json']);
    const imagery = join(stack.gateway.config.dataDir, 'imagery', 'mqtt');
    for (const sub of readdirSync(imagery)) expect(['transfers', 'scenes', 'results']).toContain(sub);
    // Each path was walked.
    for (const k of ['telemetry', 'refused topic', 'imagery']) expect(outcomes[k] ?? 0, k).toBeGreaterThan(0);
  }, 120_000);

  it('counts the publishes aedes refuses before hatake sees them (wildcards, too many levels)', async () => {
    const uncounted: string[] = [];
    for (const topic of ['hatake/v1/demo-farm/soil-1/+', 'hatake/v1/#', `hatake/v1/${'x/'.repeat(120)}up`]) {
      const c = await connectAs('soil-1', stack.secrets['soil-1']);
      const before = await counter('hatake_gateway_refused_total');
      const outcome = await publishAndSettle(c, topic, Buffer.from('{}'), 1, 2_000);
      await c.endAsync(true);
      expect(outcome, topic.slice(0, 40)).not.toBe('acked');
      const counted = await eventually(
        async () => (await counter('hatake_gateway_refused_total')) === before + 1,
        1_000,
      ).catch(() => false);
      if (!counted) uncounted.push(topic.slice(0, 40));
    }
    await goodDeviceStillStored();
    expect(uncounted, 'refused publishes missing from hatake_gateway_refused_total').toEqual([]);
  });

  it('survives random bytes and malformed MQTT on the raw socket, and keeps serving', async () => {
    const CONNECT_HEAD = Buffer.from([
      0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c,
    ]);
    const bytes = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 512 }).map((b) => Buffer.from(b)),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.concat([CONNECT_HEAD, Buffer.from(b)])),
      fc.constantFrom(
        Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), // publish with a 5-byte remaining length
        Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]), // publish declaring 256 MB
        Buffer.from([0x10, 0x00]), // empty CONNECT
        Buffer.from([0xf0, 0x00]), // reserved packet type
        Buffer.concat([
          CONNECT_HEAD,
          Buffer.from([0x00, 0x00]),
          Buffer.from([0x30, 0x05, 0x00, 0x01, 0x61, 0x62, 0x63]),
        ]),
      ),
    );
    await fc.assert(
      fc.asyncProperty(bytes, async (b) => {
        await new Promise<void>((resolve) => {
          const s = tcpConnect(stack.gateway.mqttPort, '127.0.0.1', () => s.end(b));
          s.on('error', () => resolve());
          s.on('close', () => resolve());
          s.setTimeout(2_000, () => s.destroy());
          s.resume();
        });
        await goodDeviceStillStored();
      }),
      fcParams(60),
    );
    expect((await fetch(`http://127.0.0.1:${stack.gateway.httpPort}/healthz`)).status).toBeLessThan(500);
  });
});
