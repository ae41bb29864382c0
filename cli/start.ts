// `hatake start` (npm start): the whole pipeline on one machine — server, gateway with its
// embedded broker, and simulated kits publishing over real MQTT — with the demo accounts, and the
// demo farm dated for the season it first runs in, with that season's satellite pass.
// Everything lives under the data directory, so a second start continues where the first ended.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Manifest } from '../protocol/manifest.ts';
import { Registry } from '../protocol/registry.ts';
import { validator } from '../protocol/validate.ts';
import { loadYamlFile } from '../runtime/config-file.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import { parseDocument, Scalar } from 'yaml';
import { demoScene, demoSeason, type DemoSeason } from '../sim/scene.ts';
import { provisionRegistry, writeFileAtomic } from '../firmware-config/provision.ts';
import { HatakeServer } from '../dashboard/server.ts';
import { registerGateway } from '../dashboard/routes/gateways.ts';
import { DEMO_PASSWORD, DEMO_USERS, seedDemoUsers } from '../dashboard/demo.ts';
import { Gateway } from '../gateway/gateway.ts';
import { gatewayConfigFor, DEFAULT_MQTT } from '../gateway/config.ts';
import type { Refusal } from '../sim/connect.ts';
import { SimulatedDevice } from '../sim/device.ts';
import { prng, round, SIGNALS, type Signal } from '../sim/signals.ts';
import { SimulatedValve } from '../sim/valve.ts';
import { options, untilSignal } from './main.ts';

export const DEMO_MANIFEST = fileURLToPath(new URL('../sim/demo-farm.yaml', import.meta.url));
const GATEWAY_ID = 'demo-gw';
const GATE_KIT = 'hatake-water-gate';
const LEVEL_KIT = 'hatake-paddy-water';
/**
 * The demo paddy behind its gate: 4 cm of water at the start, losing 0.6 cm an hour to
 * percolation and evaporation (faster than a real paddy's 1–3 cm a day, as the demo's other
 * signals are), filling 12 cm an hour while the gate is open. Nobody tends it but an automation
 * ("keep 3–5 cm") or a manual override.
 */
const DEMO_PADDY = { startCm: 4, fillCmPerMin: 0.2, drainCmPerMin: 0.01 };

/**
 * The paddy's panicle-initiation pass for sim/demo-farm.yaml as it is written (scouted 2026-07-18):
 * the day after, as the rice top-dressing model pairs its image with that scouting (within 10 days).
 * `hatake start` itself dates the farm for the season it runs in (demoSeason).
 */
export const DEMO_PI_SCENE = '2026-07-19T01:35:21Z';

/**
 * sim/demo-farm.yaml with the fields' dates set for `season` (comments kept): the paddy's
 * transplanting and its scouting at panicle initiation (left out before it is done), the wheat's
 * sowing. A header line says when and why.
 */
export function datedDemoManifest(text: string, season: DemoSeason): string {
  const doc = parseDocument(text);
  const quoted = (v: string) => {
    const node = doc.createNode(v);
    node.type = Scalar.QUOTE_SINGLE;
    return node;
  };
  const fields = (doc.toJS() as { fields: { crop?: string; observations?: Record<string, unknown> }[] })
    .fields;
  fields.forEach((f, i) => {
    if (f.crop === 'rice') {
      doc.setIn(['fields', i, 'plantingDate'], quoted(season.rice.plantingDate));
      for (const name of Object.keys(f.observations ?? {}))
        if (season.rice.scouted === null) doc.deleteIn(['fields', i, 'observations', name]);
        else doc.setIn(['fields', i, 'observations', name, 'date'], quoted(season.rice.scouted));
      if (season.rice.scouted === null) doc.deleteIn(['fields', i, 'observations']);
    } else if (f.crop === 'winter-wheat')
      doc.setIn(['fields', i, 'plantingDate'], quoted(season.wheat.plantingDate));
  });
  return (
    `# Dated by \`hatake start\` for ${season.date} (sim/scene.ts demoSeason): the fields' dates follow\n` +
    `# the season the demo first ran in. The farm itself is sim/demo-farm.yaml.\n` +
    doc.toString({ lineWidth: 0, flowCollectionPadding: false })
  );
}

/**
 * The demo farm for this data directory: on the first start sim/demo-farm.yaml dated for the
 * season of the day (datedDemoManifest), kept afterwards so a restart continues with the same
 * dates. Returns the file and the season it was dated for (from the day it was written).
 */
function demoFarm(dataDir: string, timeZone: string): { file: string; season: DemoSeason } {
  const file = join(dataDir, 'demo-farm.yaml');
  if (!existsSync(file)) {
    const season = demoSeason(Date.now(), timeZone);
    writeFileAtomic(file, datedDemoManifest(readFileSync(DEMO_MANIFEST, 'utf8'), season));
    return { file, season };
  }
  return { file, season: demoSeason(statSync(file).mtimeMs, timeZone) };
}

/**
 * On the first start one generated Sentinel-2-like pass goes into the gateway's imagery folder: the
 * season's (demoSeason) — the paddy's at panicle initiation in July and early August, the wheat's
 * from November to May, the last decision's in the weeks between. Clipped to the fields of that
 * crop (the others are off it: each model is handed only a pass it serves) and cloud-free, it is
 * processed there into indices and zones and yields the fertilization recommendation an extension
 * officer reviews. The paddy's pale west end is the zone its top-dressing goes to.
 */
function dropDemoScenes(gateway: Gateway, manifest: Manifest, season: DemoSeason, log: Logger): void {
  const root = join(gateway.config.dataDir, 'imagery');
  if (
    ['done', 'failed'].some(
      (d) => existsSync(join(root, d)) && readdirSync(join(root, d)).some((n) => n.endsWith('.tif')),
    )
  )
    return;
  const { pass } = season;
  const fields = manifest.fields.filter((f) => f.crop === pass.crop && f.boundary).map((f) => f.id);
  if (fields.length === 0) return;
  const scene = demoScene(manifest, {
    acquired: pass.acquired,
    fields,
    // Narrower than the 70 m between the demo's fields: the other field is off the clip.
    marginM: 30,
    cloud: false,
    ...(pass.crop === 'rice' ? { weakPatch: { dxM: 15, dyM: 15 } } : { wheatCanopy: pass.wheatCanopy }),
  });
  const inbox = gateway.imagery.inbox;
  writeFileSync(join(inbox, `${scene.sceneId}.json`), JSON.stringify(scene.stac));
  writeFileSync(
    join(inbox, `${scene.sceneId}.hatake.json`),
    JSON.stringify({ profile: 's2-l2a', bands: scene.bands, sceneId: scene.sceneId }),
  );
  // The image last: the inbox takes a .tif once its size holds still.
  writeFileSync(join(inbox, `${scene.sceneId}.tif`), new Uint8Array(scene.tiff));
  log.info(
    { scene: scene.sceneId, fields, acquired: pass.acquired, inSeason: pass.inSeason },
    pass.inSeason
      ? `demo scene dropped into the imagery folder: ${pass.crop} at its top-dressing decision`
      : `demo scene dropped into the imagery folder: between the crops' top-dressing decisions, the last one (${pass.crop})`,
  );
  void gateway.imagery.scan();
}

/**
 * A paddy level sensor's signal when a gate feeds its paddy: the water the gate's model holds,
 * read with the sensor's ±1 mm of noise (so a paddy run dry does not look like a stuck sensor).
 */
function paddyBehind(gate: SimulatedValve, signal: Signal, seed: number): Signal {
  const rnd = prng(seed * 7919);
  return (time) => {
    const cm = (gate.levelNow() ?? 0) + (rnd() - 0.5) * 0.2;
    return { ...signal(time), water_level: round(Math.min(40, Math.max(-10, cm)), 0.1) };
  };
}

/** The line `hatake start` logs for a simulated kit the gateway refuses: who, why, what to do. */
export function refusedAdvice(
  device: string,
  reason: string,
  secretsFile: string,
  registryFile: string,
): string {
  return (
    `simulated device ${device} was refused by the gateway (${reason}): the gateway's registry ` +
    `(${registryFile}) no longer holds the key the demo keeps for it in ${secretsFile} — it was ` +
    `given a new key, e.g. provisioned again from the dashboard. Put its new secret (mqtt.secret of ` +
    `its downloaded config) under devices["${device}"] in ${secretsFile} and restart, or stop hatake ` +
    `and delete both files to make new demo keys. The other devices keep running; ${device} tries ` +
    `again every minute.`
  );
}

interface DemoSecrets {
  gatewayToken: string;
  devices: Record<string, string>;
}

export async function start(args: string[]): Promise<number> {
  const { values } = options(args, {
    data: { type: 'string', default: process.env.HATAKE_DATA ?? './data' },
    'http-port': { type: 'string', default: '8080' },
    'mqtt-port': { type: 'string', default: '1883' },
    'gateway-port': { type: 'string', default: '8081' },
    interval: { type: 'string', default: '5' },
  });
  const dataDir = resolve(values.data);
  const log = createLogger('hatake');
  mkdirSync(join(dataDir, 'gateway'), { recursive: true });
  const template = loadYamlFile(DEMO_MANIFEST, validator(Manifest));
  const farm = demoFarm(dataDir, template.farm.timezone ?? 'Asia/Tokyo');
  const manifest = loadYamlFile(farm.file, validator(Manifest));

  // Credentials made on the first start and kept, so restarts keep working with the same data.
  const secretsFile = join(dataDir, 'demo-secrets.json');
  const registryFile = join(dataDir, 'gateway', 'registry.json');
  let secrets: DemoSecrets | undefined = existsSync(secretsFile)
    ? (JSON.parse(readFileSync(secretsFile, 'utf8')) as DemoSecrets)
    : undefined;
  const server = await HatakeServer.create({
    dataDir: join(dataDir, 'server'),
    port: Number(values['http-port']),
    logger: log.child({ part: 'server' }),
  });
  await seedDemoUsers(server.ctx.auth);
  const token =
    secrets && server.ctx.auth.gateway(secrets.gatewayToken)
      ? secrets.gatewayToken
      : registerGateway(server.ctx, GATEWAY_ID, manifest.farm.id);
  const keep =
    existsSync(registryFile) && secrets
      ? validator(Registry).parse(JSON.parse(readFileSync(registryFile, 'utf8')), 'registry')
      : undefined;
  const { registry, secrets: fresh } = provisionRegistry(manifest, keep);
  // Devices provisioned beside the demo's (from the dashboard: the registry it sent down) stay.
  const demoIds = new Set(manifest.devices.map((d) => d.id));
  // (Only the demo farm's: a registry left by another farm keeps none of its devices.)
  if (keep?.farm === manifest.farm.id)
    registry.devices.push(...keep.devices.filter((d) => !demoIds.has(d.id)));
  secrets = { gatewayToken: token, devices: { ...(secrets?.devices ?? {}), ...fresh } };
  writeFileAtomic(registryFile, JSON.stringify(registry, null, 2));
  writeFileAtomic(secretsFile, JSON.stringify(secrets, null, 2));
  // Whatever started is stopped again if a later part cannot start (a port in use…).
  const started: (() => Promise<void>)[] = [() => server.close()];
  const abort = async (e: unknown): Promise<never> => {
    for (const stop of started.reverse()) await stop().catch(() => {});
    throw e;
  };
  const httpPort = await server.listen().catch(abort);

  const gateway = new Gateway(
    gatewayConfigFor(
      { id: GATEWAY_ID, dataDir: join(dataDir, 'gateway'), manifest: farm.file, registry: registryFile },
      {
        mqtt: { ...DEFAULT_MQTT, host: '127.0.0.1', port: Number(values['mqtt-port']) },
        http: { host: '127.0.0.1', port: Number(values['gateway-port']) },
        server: { url: `http://127.0.0.1:${httpPort}`, token, publicKey: server.ctx.signingPublicKey },
      },
    ),
    log.child({ part: 'gateway' }),
  );
  await gateway.start().catch(async (e: unknown) => {
    await gateway.stop().catch(() => {});
    return abort(e);
  });
  started.push(() => gateway.stop());
  dropDemoScenes(gateway, manifest, farm.season, log);

  // A kit whose login the gateway refuses (its key was replaced, e.g. provisioned again from the
  // dashboard with a new key) is said once, with what to do; the others keep running.
  const simLog = log.child({ part: 'sim' });
  const login = (device: string) => ({
    farm: manifest.farm.id,
    device,
    secret: secrets.devices[device] ?? '',
    brokerUrl: `mqtt://127.0.0.1:${gateway.mqttPort}`,
    onRefused: (r: Refusal) =>
      simLog.error(
        { device: r.device, reason: r.reason, secrets: secretsFile, registry: registryFile },
        refusedAdvice(r.device, r.reason, secretsFile, registryFile),
      ),
    onBack: (id: string) => simLog.info({ device: id }, `simulated device ${id} is accepted again`),
  });
  const intervalMs = Number(values.interval) * 1000;
  // A fresh demo: each kit first reports its last day (every 30 min: 47 reports, inside the
  // gateway's burst allowance), so the charts and the rules have a day to read at once.
  const history = gateway.store.hasReadings() ? undefined : { hours: 24, everyMs: 30 * 60_000 };
  // Each water gate holds back a paddy of its own (DEMO_PADDY); the field's level sensors read it.
  const gates = manifest.devices
    .filter((d) => d.kit === GATE_KIT)
    .map((d) => ({
      field: d.field,
      valve: new SimulatedValve({
        ...login(d.id),
        reportEveryMs: intervalMs,
        level: DEMO_PADDY,
        reportLevel: false,
      }),
    }));
  const devices = manifest.devices.flatMap((d, i) => {
    const signal = SIGNALS[d.kit]?.(i + 1);
    if (!signal) return [];
    const gate = d.kit === LEVEL_KIT ? gates.find((g) => g.field === d.field)?.valve : undefined;
    return [
      new SimulatedDevice({
        ...login(d.id),
        intervalMs,
        history,
        signal: gate ? paddyBehind(gate, signal, i + 1) : signal,
      }),
    ];
  });
  const kits = [...devices, ...gates.map((g) => g.valve)];
  await Promise.all(kits.map((k) => k.start()));

  process.stdout.write(
    [
      '',
      `  hatake is running — dashboard: http://localhost:${httpPort}/   API docs: http://localhost:${httpPort}/docs`,
      `  gateway: MQTT mqtt://localhost:${gateway.mqttPort}   status page http://localhost:${gateway.httpPort}/   data: ${dataDir}`,
      `  demo logins (password "${DEMO_PASSWORD}"): ${DEMO_USERS.map((u) => u.name).join(', ')}`,
      '  Ctrl-C stops it; running it again keeps the data.',
      '',
    ].join('\n') + '\n',
  );
  await untilSignal();
  log.info('stopping');
  await Promise.all(kits.map((k) => k.stop()));
  await gateway.stop();
  await server.close();
  return 0;
}
