// The printable installation sheet's date and its words for a device whose key was kept.
import { describe, expect, it } from 'vitest';
import { sheetHtml } from '../../firmware-config/firmware-files.ts';
import type { Manifest } from '../../protocol/manifest.ts';

const manifest = (timezone?: string): Manifest => ({
  farm: { id: 'demo-farm', name: 'デモ農場', ...(timezone ? { timezone } : {}) },
  fields: [],
  devices: [{ id: 'soil-1', kit: 'hatake-soil-probe' }],
});
const kept = [
  {
    device: { id: 'soil-1', kit: 'hatake-soil-probe' },
    kit: undefined,
    fieldName: undefined,
    qr: undefined,
    topic: undefined,
    lorawan: false,
  },
];
// 16:26 UTC on 4 December is 01:26 on 5 December in Tokyo.
const NOW = Date.parse('2026-12-04T16:26:00Z');

describe('the installation sheet', () => {
  it('is dated by the farm’s day, not UTC’s', () => {
    expect(sheetHtml(manifest(), kept, NOW)).toContain('· 2026-12-05 ·');
    expect(sheetHtml(manifest('Asia/Tokyo'), kept, NOW)).toContain('· 2026-12-05 ·');
    expect(sheetHtml(manifest('America/Los_Angeles'), kept, NOW)).toContain('· 2026-12-04 ·');
    // A zone this machine does not know: UTC's day rather than no sheet.
    expect(sheetHtml(manifest('Mars/Olympus_Mons'), kept, NOW)).toContain('· 2026-12-04 ·');
  });

  it('tells the partner where to issue a kept device’s key again: the dashboard or the CLI', () => {
    const html = sheetHtml(manifest(), kept, NOW);
    expect(html).toContain('鍵を更新');
    expect(html).toContain('--device soil-1');
  });
});
