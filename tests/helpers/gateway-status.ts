// A gateway status (gateway/http.ts GatewayStatus) for rendering tests: healthy and empty, at a
// fixed time; each test fills in what it is about.
import type { GatewayStatus } from '../../gateway/http.ts';

export const STATUS_NOW = 1_780_000_000_000;

export function gatewayStatus(over: Partial<GatewayStatus> = {}): GatewayStatus {
  return {
    gateway: 'gw-1',
    farm: 'demo-farm',
    time: STATUS_NOW,
    health: { ok: true, problems: [], issues: [] },
    devices: [],
    deadLetters: [],
    sync: {
      configured: true,
      backlog: 0,
      oldestAgeMs: null,
      lastSuccess: null,
      lastError: null,
      stopped: null,
      sentItems: 0,
      backlogBytes: 0,
      throughput: null,
      clockOffsetMs: null,
      downlinkVersion: 0,
      downlinkError: null,
      configVersion: null,
    },
    disk: { dbBytes: 1e6, walBytes: 0, budgetBytes: 1e9, fsFreeBytes: 1e10, full: false },
    events: [],
    tips: [],
    recommendations: [],
    ...over,
  };
}
