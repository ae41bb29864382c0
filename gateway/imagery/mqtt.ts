// Imagery over MQTT on the gateway's own broker: a registered provider (a satellite-data
// service, the co-op, hatake's server) publishes a scene to `hatake/v1/{farm}/imagery/{scene}/…`
// in chunks; the receiver reassembles and processes it and answers on `…/{scene}/status`.
import { imageryTopicPrefix } from '../../protocol/imagery.ts';
import type { TopicHandler } from '../broker.ts';
import type { DeviceRegistry } from '../registry.ts';
import type { ImageryReceiver } from './receiver.ts';

export class ImageryTopics implements TopicHandler {
  private readonly prefix: string;
  private readonly registry: DeviceRegistry;
  private readonly receiver: ImageryReceiver;

  constructor(farm: string, registry: DeviceRegistry, receiver: ImageryReceiver) {
    this.prefix = imageryTopicPrefix(farm);
    this.registry = registry;
    this.receiver = receiver;
  }

  matches(topic: string): boolean {
    return topic.startsWith(this.prefix);
  }

  mayPublish(client: string, topic: string): boolean {
    return topic.startsWith(this.prefix) && this.registry.isProvider(client, 'imagery');
  }

  /** Hands a message to the receiver; resolves once it is on disk (then the PUBACK goes out). */
  handle(_client: string, topic: string, payload: Buffer): Promise<void> {
    return this.receiver.handle(topic.slice(this.prefix.length), payload);
  }
}
