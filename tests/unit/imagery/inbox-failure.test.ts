// The gateway's imagery inbox tells its owner about a scene it could not process: a scene sent
// down (its sidecar names the downlink document) becomes a downlink_refused event for the
// server; one dropped in locally is only logged and moved to failed/, as before. The scene
// handler names the document in the sidecar it writes, without that changing what counts as a
// scene already processed.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sceneFailureEvent, sceneHandler } from '../../../gateway/downlink-apply.ts';
import type { DownlinkClient } from '../../../gateway/downlink-client.ts';
import { GatewayEvent } from '../../../protocol/sync.ts';
import { validator } from '../../../protocol/validate.ts';
import { demoScene } from '../../../sim/scene.ts';
import { demoManifest } from '../../helpers/stack.ts';
import { imageryFields, inboxScanner } from '../../helpers/inbox.ts';
import { undecodableTiff } from '../../helpers/corrupt-tiff.ts';

const manifest = demoManifest();
const fields = imageryFields(manifest);
const good = Buffer.from(demoScene(manifest, { acquired: '2026-07-20T01:30:00Z' }).tiff);
const bad = undecodableTiff(good);
const DESCRIPTION = { bands: 'blue=1,green=2,red=3,nir=4,scl=5', offset: -1000 };
const eventValidator = validator(GatewayEvent);

const { scanWith, newInbox } = inboxScanner(fields, 'hatake-inbox-fail-');

describe('a scene the imagery inbox cannot process', () => {
  it('is reported with its downlink document when it came by downlink, as a valid downlink_refused event', async () => {
    const { dir, results, failures } = await scanWith({
      'sent.tif': bad,
      'sent.hatake.json': { ...DESCRIPTION, sceneId: 'sent', downlink: { id: 'sent', version: 42 } },
      'ok.tif': good,
      'ok.hatake.json': { ...DESCRIPTION, sceneId: 'ok', downlink: { id: 'ok', version: 43 } },
    });
    expect(results.map((r) => r.sceneId)).toEqual(['ok']);
    expect(failures).toEqual([
      {
        file: 'sent.tif',
        code: 'HATAKE_E_IMAGERY_FILE',
        reason: expect.stringMatching(/^corrupt data in block \(0, 0\): .*\(expected a valid GeoTIFF\)$/),
        downlink: { id: 'sent', version: 42 },
      },
    ]);
    expect(failures[0]!.reason).not.toContain(dir);
    expect(readdirSync(join(dir, 'failed')).sort()).toEqual([
      'sent.hatake.json',
      'sent.reason.txt',
      'sent.tif',
    ]);
    const event = sceneFailureEvent(failures[0]!)!;
    expect(event).toEqual({
      type: 'downlink_refused',
      severity: 'warning',
      message: `scene sent v42 could not be processed: ${failures[0]!.reason}`,
      detail: {
        kind: 'scene',
        id: 'sent',
        version: 42,
        code: 'HATAKE_E_IMAGERY_FILE',
        reason: failures[0]!.reason,
      },
    });
    // What the server validates a batch against (an invalid event would be refused there).
    expect(() => eventValidator.parse({ ...event, id: 'abcdefgh12', time: 1 }, 'event')).not.toThrow();
  });

  it('is reported without a document when dropped in locally, and raises no event', async () => {
    const { failures } = await scanWith({
      'local.tif': bad,
      'local.hatake.json': { ...DESCRIPTION, sceneId: 'local' },
      'bare.tif': Buffer.from('II*\0 not a tiff at all'),
    });
    expect(failures.map((f) => [f.file, f.code, f.downlink])).toEqual([
      ['bare.tif', 'HATAKE_E_IMAGERY_FILE', undefined],
      ['local.tif', 'HATAKE_E_IMAGERY_FILE', undefined],
    ]);
    for (const f of failures) expect(sceneFailureEvent(f)).toBeUndefined();
  });

  it('refuses a sidecar whose downlink is not a document id and version', async () => {
    const { failures, dir } = await scanWith({
      'long.tif': good,
      'long.hatake.json': { ...DESCRIPTION, downlink: { id: 'x'.repeat(2000), version: 7 } },
      'odd.tif': good,
      'odd.hatake.json': { ...DESCRIPTION, downlink: { id: 'odd', version: '7' } },
    });
    expect(failures).toEqual(
      ['long', 'odd'].map((stem) => ({
        file: `${stem}.tif`,
        code: 'HATAKE_E_IMAGERY_FILE',
        reason: `${stem}.hatake.json: downlink must name the document's id and version (expected {"id": "…", "version": 12})`,
      })),
    );
    expect(readdirSync(join(dir, 'failed'))).toEqual(
      expect.arrayContaining(['long.reason.txt', 'odd.reason.txt']),
    );
  });

  it('keeps a long reason within what the server takes', () => {
    const event = sceneFailureEvent({
      file: 'x.tif',
      code: 'HATAKE_E_INTERNAL',
      reason: 'é'.repeat(5000),
      downlink: { id: 'x'.repeat(64), version: 2 ** 40 },
    })!;
    expect(() => eventValidator.parse({ ...event, id: 'abcdefgh12', time: 1 }, 'event')).not.toThrow();
    expect((event.detail!.reason as string).length).toBe(500);
  });
});

describe('the sidecar the scene handler writes', () => {
  it('names the document it came with; a new version of the same description is not processed again', async () => {
    const dir = newInbox();
    let downloads = 0;
    let scans = 0;
    const client = {
      get: async () => {
        downloads++;
        return new Response(new Uint8Array(good));
      },
    } as unknown as DownlinkClient;
    const apply = sceneHandler({ dir, scan: async () => void scans++ });
    const body = {
      v: 1,
      sceneId: 'sent',
      acquired: '2026-07-20T01:30:00.000Z',
      profile: 's2-l2a',
      offset: -1000,
      format: 'geotiff',
      size: good.length,
      sha256: createHash('sha256').update(good).digest('hex'),
    };
    const doc = (version: number, b: object = body) => ({
      kind: 'scene',
      id: 'sent',
      version,
      body: b,
      deleted: false,
    });
    const sidecar = (d: string) =>
      JSON.parse(readFileSync(join(dir, d, 'sent.hatake.json'), 'utf8')) as Record<string, unknown>;

    expect(await apply(doc(3), client)).toMatch(/sha256 verified\) queued for processing$/);
    expect(sidecar('inbox')).toEqual({
      sceneId: 'sent',
      acquired: body.acquired,
      profile: 's2-l2a',
      offset: -1000,
      downlink: { id: 'sent', version: 3 },
    });
    // As the inbox does once it has processed it.
    for (const f of ['sent.tif', 'sent.hatake.json']) renameSync(join(dir, 'inbox', f), join(dir, 'done', f));
    // Delivered again (the same version, or a later one saying the same): nothing to do.
    expect(await apply(doc(3), client)).toBe('scene sent already received and processed');
    expect(await apply(doc(7), client)).toBe('scene sent already received and processed');
    // A corrected description: processed again, under the new document.
    expect(await apply(doc(8, { ...body, offset: 0 }), client)).toMatch(/queued for processing again/);
    expect(sidecar('inbox')).toMatchObject({ offset: 0, downlink: { id: 'sent', version: 8 } });
    expect(downloads).toBe(1);
    expect(scans).toBe(2);
  });

  it('without a downlink (as written before, or by hand) is processed as ever', async () => {
    const { results, failures } = await scanWith({
      'old.tif': good,
      'old.hatake.json': { ...DESCRIPTION, sceneId: 'old' },
    });
    expect(failures).toEqual([]);
    expect(results.map((r) => r.sceneId)).toEqual(['old']);
  });
});
