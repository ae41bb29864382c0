// The demo paddy's water-level sensor reporting a standing depth: six readings over the last
// fifty minutes, through the gateway's broker, for the paddy-water rule to judge.
import mqtt from 'mqtt';
import { deviceTopic } from '../../protocol/topics.ts';
import type { Stack } from './stack.ts';

export async function standingWater(s: Pick<Stack, 'mqttUrl' | 'secrets'>, cm: number): Promise<void> {
  const c = await mqtt.connectAsync(s.mqttUrl, {
    username: 'water-1',
    password: s.secrets['water-1'],
    reconnectPeriod: 0,
  });
  try {
    const now = Date.now();
    for (const ago of [50, 40, 30, 20, 10, 2])
      await c.publishAsync(
        deviceTopic('demo-farm', 'water-1', 'up'),
        JSON.stringify({ time: now - ago * 60_000, values: { water_level: cm, water_temperature: 14 } }),
        { qos: 1 },
      );
  } finally {
    await c.endAsync();
  }
}
