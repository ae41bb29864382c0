// The ESPHome snippet `hatake kit provision` writes for each device, parsed as YAML and held
// against the gateway's rules: everything it can publish goes to a topic the broker accepts from
// that device (anything else closes the connection, so a real ESPHome node would reconnect in a
// loop), ESPHome's own topics are off, it subscribes only to the device's `down` topic, and its
// credentials and QoS are the JSON config's. An actuator's snippet handles every command the
// gateway sends it and reports the state the gateway waits for.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { encodeCommand } from '../../firmware-config/commands.ts';
import { decodePayload } from '../../firmware-config/decode.ts';
import { deviceConfig, esphomeSnippet } from '../../firmware-config/firmware-files.ts';
import { actuatorOf, resolveCommand } from '../../gateway/automations/plan.ts';
import type { Kit } from '../../protocol/kit.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { deviceTopic, parseDeviceTopic } from '../../protocol/topics.ts';

const FARM = 'demo-farm';
const DEVICE = 'soil-1';
const catalogue = loadCatalogue();
const mqttKits = [...catalogue.kits.values()].filter((k) => k.transport !== 'lorawan');

function snippetOf(kit: Kit, device = DEVICE) {
  const manifest: Manifest = {
    farm: { id: FARM, name: 'Demo' },
    fields: [],
    devices: [{ id: device, kit: kit.id }],
  };
  const config = deviceConfig(
    manifest,
    manifest.devices[0]!,
    kit,
    'k3y-'.repeat(11),
    { host: '192.168.1.10', port: 1883, tls: false },
    Date.UTC(2026, 3, 1),
  );
  const text = esphomeSnippet(config, kit);
  return { config, text, doc: parse(text) as Record<string, unknown> & { mqtt: Record<string, unknown> } };
}

/**
 * Whether the gateway's broker lets `device` publish on `topic`: the checks of its
 * authorizePublish (gateway/broker.ts, private there) — a device topic of this farm and device,
 * and not `down` (a handler's topics, such as imagery, are for providers, not sensors).
 */
function brokerAcceptsPublish(device: string, topic: string): boolean {
  try {
    const t = parseDeviceTopic(topic);
    return t.farm === FARM && t.device === device && t.kind !== 'down';
  } catch {
    return false;
  }
}

/** What authorizeSubscribe grants a device: its own `down` topic, exactly. */
const brokerAcceptsSubscribe = (device: string, topic: string) => topic === deviceTopic(FARM, device, 'down');

interface Publish {
  topic: string;
  qos: unknown;
  payload: unknown;
  where: string;
}

/** Every mqtt.publish / mqtt.publish_json action anywhere in the document. */
function publishActions(node: unknown, where = ''): Publish[] {
  if (Array.isArray(node)) return node.flatMap((n, i) => publishActions(n, `${where}[${i}]`));
  if (typeof node !== 'object' || node === null) return [];
  const out: Publish[] = [];
  for (const [k, v] of Object.entries(node)) {
    if (k === 'mqtt.publish' || k === 'mqtt.publish_json') {
      const a = v as Record<string, unknown>;
      out.push({ topic: a.topic as string, qos: a.qos, payload: a.payload, where: `${where}.${k}` });
    }
    out.push(...publishActions(v, `${where}.${k}`));
  }
  return out;
}

/** Keys that give an entity an MQTT topic of its own (ESPHome's per-component options). */
function topicKeys(node: unknown, where = ''): string[] {
  if (Array.isArray(node)) return node.flatMap((n, i) => topicKeys(n, `${where}[${i}]`));
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([k, v]) => [
    ...(/^(state_topic|command_topic|availability|discovery|json_attributes_topic)$/.test(k) &&
    !where.startsWith('.mqtt')
      ? [`${where}.${k}`]
      : []),
    ...topicKeys(v, `${where}.${k}`),
  ]);
}

/** The metrics a publish payload lambda sets: `root["values"]["soil_raw"] = …`. */
const payloadMetrics = (payload: unknown) =>
  [...String(payload).matchAll(/root\["values"\]\["([a-z0-9_]+)"\]/g)].map((m) => m[1]!);

describe('the ESPHome snippet publishes only where the gateway accepts it', () => {
  it.each(mqttKits.map((k) => [k.id, k] as const))('%s', (_id, kit) => {
    const { config, doc } = snippetOf(kit);
    const mqtt = doc.mqtt;
    // ESPHome's own topics are off: no `<prefix>/sensor/<name>/state`, `<prefix>/debug`,
    // `homeassistant/…` discovery or `esphome/discover/<name>`.
    expect(Object.hasOwn(mqtt, 'topic_prefix') && mqtt.topic_prefix === null).toBe(true);
    expect(Object.hasOwn(mqtt, 'log_topic') && mqtt.log_topic === null).toBe(true);
    expect(mqtt.discovery).toBe(false);
    expect(mqtt.discover_ip).toBe(false);
    expect(topicKeys(doc)).toEqual([]);
    // Every entity is internal: it could not publish a state of its own even under a prefix.
    for (const [key, list] of Object.entries(doc)) {
      if (!Array.isArray(list)) continue;
      for (const e of list as Array<Record<string, unknown>>)
        if (typeof e === 'object' && e !== null && 'platform' in e)
          expect(e.internal, `${key} ${String(e.id)}`).toBe(true);
    }
    // Birth, will and shutdown messages: online / offline on the status topic.
    for (const k of ['birth_message', 'will_message', 'shutdown_message']) {
      const m = mqtt[k] as { topic: string; payload: string; qos: number; retain: boolean };
      expect(m.topic, k).toBe(config.mqtt.statusTopic);
      expect(brokerAcceptsPublish(DEVICE, m.topic), k).toBe(true);
      expect(['online', 'offline']).toContain(m.payload);
      expect(m.qos).toBe(config.mqtt.qos);
    }
    // Readings: only on the telemetry topic, at the config's QoS, only metrics the kit has.
    const publishes = publishActions(doc);
    expect(publishes.length).toBeGreaterThan(0);
    for (const p of publishes) {
      expect(brokerAcceptsPublish(DEVICE, p.topic), p.where).toBe(true);
      expect(p.topic, p.where).toBe(config.mqtt.topic);
      expect(p.qos, p.where).toBe(config.mqtt.qos);
      const metrics = payloadMetrics(p.payload);
      expect(metrics.length, p.where).toBeGreaterThan(0);
      for (const m of metrics) expect(Object.keys(kit.metrics), p.where).toContain(m);
    }
    // Subscriptions: the device's own `down` topic only.
    for (const k of ['on_message', 'on_json_message']) {
      for (const s of (mqtt[k] ?? []) as Array<{ topic: string; qos: number }>) {
        expect(brokerAcceptsSubscribe(DEVICE, s.topic), s.topic).toBe(true);
        expect(s.qos).toBe(config.mqtt.qos);
      }
    }
    // Credentials as in the JSON config.
    expect(mqtt).toMatchObject({
      broker: config.mqtt.host,
      port: config.mqtt.port,
      username: config.mqtt.username,
      password: config.mqtt.secret,
      client_id: config.mqtt.clientId,
    });
  });

  it('reports every metric of a sensor kit in its interval, the calibrated one included', () => {
    const kit = catalogue.require('hatake-soil-probe');
    const { doc, config } = snippetOf(kit);
    const [every] = doc.interval as Array<{ interval: string }>;
    expect(every!.interval).toBe(`${config.interval}s`);
    expect(payloadMetrics(publishActions(doc)[0]!.payload).sort()).toEqual(Object.keys(kit.metrics).sort());
  });
});

describe('the soil probe snippet has a slot for soil_vwc', () => {
  const kit = catalogue.require('hatake-soil-probe');
  const { text, doc } = snippetOf(kit);

  it('a commented template sensor whose value, when set, is sent', () => {
    const sensors = doc.sensor as Array<{ id: string }>;
    expect(sensors.map((s) => s.id)).toContain('soil_1_soil_vwc');
    expect(payloadMetrics(publishActions(doc)[0]!.payload)).toContain('soil_vwc');
    expect(text).toMatch(
      /# soil_vwc: only if your probe measures it itself\. Otherwise send soil_raw or soil_permittivity/,
    );
  });

  it('as the comment says: stored as sent alone, replaced by the calibration when soil_raw comes with it', () => {
    const decode = (values: Record<string, number>) =>
      decodePayload(new Uint8Array(Buffer.from(JSON.stringify({ values }))), {
        device: DEVICE,
        kit,
        receivedAt: Date.UTC(2026, 3, 1),
      });
    expect(decode({ soil_vwc: 0.31 }).find((r) => r.metric === 'soil_vwc')?.value).toBe(0.31);
    const both = decode({ soil_vwc: 0.31, soil_raw: 2400 }).find((r) => r.metric === 'soil_vwc')!.value;
    expect(both).toBeCloseTo(1.0 - 0.000333333 * 2400, 6);
  });
});

// --- The water gate's command handler --------------------------------------------------------

interface Branch {
  name: string;
  conditions: string[];
  body: string[];
}

/** The `if (…) { … }` branches of the generated dispatch lambda, in order. */
function branchesOf(lambda: string): Branch[] {
  const lines = lambda.split('\n');
  const out: Branch[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^if \((.*)\) \{ {2}\/\/ ([a-z0-9_]+)$/.exec(lines[i]!);
    if (!m) continue;
    const body: string[] = [];
    while (lines[++i] !== '}') body.push(lines[i]!.trim());
    out.push({ name: m[2]!, conditions: m[1]!.split(' && '), body });
  }
  return out;
}

/** A C++ string literal as the generator writes it, back to text. */
const unC = (s: string) =>
  s
    .slice(1, -1)
    .replace(/\\([0-7]{3}|.)/g, (_, e: string) => (e.length === 3 ? String.fromCharCode(parseInt(e, 8)) : e));

/**
 * Whether a condition of the lambda holds for a parsed command, as ArduinoJson would answer:
 * `x["k"] == "v"` / `x["k"] == 5` / `x["k"] == true`, and `x["k"].is<int>()` / `.is<float>()`.
 */
function holds(cond: string, x: Record<string, unknown>): boolean {
  let m = /^x\[("(?:[^"\\]|\\.)*")\] == (.+)$/.exec(cond);
  if (m) {
    const v = x[unC(m[1]!)];
    const lit = m[2]!;
    return lit.startsWith('"')
      ? v === unC(lit)
      : lit === 'true' || lit === 'false'
        ? v === (lit === 'true')
        : v === Number(lit);
  }
  m = /^x\[("(?:[^"\\]|\\.)*")\]\.is<(int|float)>\(\)$/.exec(cond);
  if (m) {
    const v = x[unC(m[1]!)];
    return typeof v === 'number' && (m[2] === 'float' || Number.isInteger(v));
  }
  throw new Error(`condition not understood: ${cond}`);
}

describe('the water gate snippet obeys the gateway’s commands', () => {
  const kit = catalogue.require('hatake-water-gate');
  const device = 'gate-1';
  const { doc, config } = snippetOf(kit, device);
  const handlers = (doc.mqtt.on_json_message ?? []) as Array<{
    topic: string;
    qos: number;
    then: Array<Record<string, unknown>>;
  }>;
  // The state metric the gateway's automations read, and its plain close command.
  const actuator = actuatorOf(kit, device)!;

  it('subscribes to its down topic and reports the state the gateway waits for after each command', () => {
    expect(handlers).toHaveLength(1);
    const [h] = handlers;
    expect(h!.topic).toBe(config.mqtt.commandTopic);
    expect(brokerAcceptsSubscribe(device, h!.topic)).toBe(true);
    expect(h!.qos).toBe(config.mqtt.qos);
    const report = h!.then[1]!['mqtt.publish_json'] as { topic: string; payload: string };
    expect(report.topic).toBe(config.mqtt.topic);
    expect(payloadMetrics(report.payload)).toContain(actuator.metric);
  });

  it('maps every command the gateway can send onto the switch whose state it reports', () => {
    const lambda = handlers[0]!.then[0]!.lambda as string;
    const branches = branchesOf(lambda);
    const switchId = /root\["values"\]\["valve_state"\] = id\((\w+)\)\.state \? 1 : 0;/.exec(
      String((handlers[0]!.then[1]!['mqtt.publish_json'] as { payload: string }).payload),
    )![1]!;
    expect((doc.switch as Array<{ id: string }>).map((s) => s.id)).toEqual([switchId]);
    const commands = Object.entries(kit.commands!);
    expect(commands.map(([n]) => n).sort()).toEqual(['close', 'open', 'open_for']);
    for (const [name, c] of commands) {
      const specs = Object.entries(c.params ?? {});
      const samples =
        specs.length === 0
          ? [{}]
          : [specs[0]![1].min, 30, specs[0]![1].max].map((v) => ({ [specs[0]![0]]: v }));
      for (const params of samples) {
        // The payload exactly as the gateway publishes it on `down`.
        const payload = JSON.parse(encodeCommand(kit, name, params).payload) as Record<string, unknown>;
        const hit = branches.find((b) => b.conditions.every((cond) => holds(cond, payload)));
        expect(hit?.name, `${name} ${JSON.stringify(params)}`).toBe(name);
        expect(c.expect?.metric).toBe(actuator.metric);
        expect(hit!.body).toContain(`id(${switchId}).${c.expect!.value === 1 ? 'turn_on' : 'turn_off'}();`);
        const selfClose = resolveCommand(
          kit,
          device,
          name,
          params as Record<string, number>,
        ).selfCloseMinutes;
        if (selfClose !== null) {
          // The gateway counts on a timed opening closing itself: the deadline is set…
          expect(hit!.body.join('\n')).toMatch(/= millis\(\) \+ \(uint32_t\) p_minutes \* 60000UL;/);
          const spec = c.params!.minutes!;
          expect(hit!.body).toContain(`if (p_minutes < ${spec.min} || p_minutes > ${spec.max}) {`);
        }
      }
    }
    // …and a check every second closes the gate when it has passed, and says so.
    const timer = (doc.interval as Array<{ interval: string; then: Array<Record<string, unknown>> }>).find(
      (i) => i.interval === '1s',
    )!;
    const step = timer.then[0]!.if as { then: Array<Record<string, unknown>> };
    expect(step.then[0]).toEqual({ 'switch.turn_off': switchId });
    expect(payloadMetrics((step.then[1]!['mqtt.publish_json'] as { payload: string }).payload)).toEqual([
      'valve_state',
      'open_minutes_left',
    ]);
    // A payload no command has reaches none of the branches.
    expect(
      branches.find((b) => b.conditions.every((cond) => holds(cond, { command: 'explode' }))),
    ).toBeUndefined();
  });

  it('starts every connection with a clean session, so no command queued while it was away comes late', () => {
    expect(doc.mqtt.clean_session).toBe(true);
  });

  it('a sensor kit gets no command handler and no switch', () => {
    const { doc: soil } = snippetOf(catalogue.require('hatake-soil-probe'));
    expect(soil.mqtt.on_json_message).toBeUndefined();
    expect(soil.switch).toBeUndefined();
    expect(soil.mqtt.clean_session).toBeUndefined();
  });
});
