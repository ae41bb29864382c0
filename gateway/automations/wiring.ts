// Puts the automation engine into a running Gateway: commands go out through its embedded broker,
// devices and kits come from its registry and catalogue, days and quiet hours from its manifest's
// zone, time from its corrected clock (or a clock a test hands in), and the downlink documents it
// keeps ('document' event) reach the engine. Readings are the caller's to feed (the ingest's
// 'readings' event → `engine.observe`).
import type { Gateway } from '../gateway.ts';
import { AutomationEngine } from './engine.ts';
import { systemClock, type EngineClock } from './clock.ts';

/** Creates and starts the engine for a started gateway with an embedded broker. */
export function createAutomationEngine(gw: Gateway, clock?: EngineClock): AutomationEngine {
  const broker = gw.broker;
  if (!broker) throw new Error('automations need the embedded MQTT broker to send commands');
  const engine = new AutomationEngine({
    store: gw.store,
    publish: (device, payload) => broker.command(device, payload),
    kitOf: (device) => {
      const entry = gw.registry.get(device);
      return entry ? gw.catalogue.get(entry.kit) : undefined;
    },
    devices: () => gw.registry.ids(),
    farm: gw.registry.farm,
    timezone: () => gw.manifest.farm.timezone,
    clock: clock ?? systemClock(() => gw.now()),
    log: gw.log.child({ part: 'automations' }),
  });
  engine.start();
  gw.on('document', (doc) => engine.document(doc));
  return engine;
}
