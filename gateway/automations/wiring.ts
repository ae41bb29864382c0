// Puts the automation engine into a running Gateway: commands go out through its embedded broker
// (or, with none, published to the device's `down` topic on the external broker it ingests from),
// devices and kits come from its registry and catalogue, days and quiet hours from its manifest's
// zone, time from its corrected clock (or a clock a test hands in), and the downlink documents it
// keeps ('document' event) reach the engine. Readings are the caller's to feed (the ingest's
// 'readings' event → `engine.observe`).
import type { Gateway } from '../gateway.ts';
import { AutomationEngine } from './engine.ts';
import { systemClock, type EngineClock } from './clock.ts';
import { deviceTopic } from '../../protocol/topics.ts';

/** How a command reaches a device: the embedded broker's, else the external broker's `down` topic. */
function commandPath(gw: Gateway): ((device: string, payload: string) => Promise<void>) | undefined {
  const broker = gw.broker;
  if (broker) return (device, payload) => broker.command(device, payload);
  const external = gw.external;
  if (external)
    return (device, payload) => external.publish(deviceTopic(gw.registry.farm, device, 'down'), payload);
  return undefined;
}

/** Creates and starts the engine for a started gateway with an MQTT broker (embedded or external). */
export function createAutomationEngine(gw: Gateway, clock?: EngineClock): AutomationEngine {
  const publish = commandPath(gw);
  if (!publish) throw new Error('automations need an MQTT broker (embedded or external) to send commands');
  const engine = new AutomationEngine({
    store: gw.store,
    publish,
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
