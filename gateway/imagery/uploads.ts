// Heatmap PNGs of processed scenes, uploaded to the server after the scene's statistics have
// synced (the server keeps them beside the scene). Pending uploads are kept in the gateway's
// database, so a restart or a long outage only delays them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SceneStats } from '../../protocol/imagery.ts';
import type { Logger } from '../../runtime/log.ts';
import type { GatewayStore } from '../store.ts';
import { describeFetchError, type ServerFetch } from '../server-fetch.ts';

interface PendingUpload {
  sceneId: string;
  outDir: string;
  paths: string[];
}

/** Remembers the map files of a processed scene for upload. */
export function queueMapUploads(
  store: GatewayStore,
  sceneId: string,
  outDir: string,
  stats: SceneStats,
  now: number,
): void {
  const paths = new Set<string>();
  for (const f of Object.values(stats.fields)) {
    for (const m of Object.values(f.maps ?? {})) {
      paths.add(m.file);
      paths.add(m.legend);
    }
  }
  if (paths.size)
    store.putDocument(
      'map_upload',
      sceneId,
      0,
      { sceneId, outDir, paths: [...paths] } satisfies PendingUpload,
      now,
    );
}

/** Uploads what is pending (through `server.fetch`, the gateway's, when given); keeps what failed for the next time. */
export async function uploadPendingMaps(
  store: GatewayStore,
  server: { url: string; token: string; fetch?: ServerFetch },
  log: Logger,
): Promise<number> {
  const send = server.fetch ?? fetch;
  let sent = 0;
  for (const { id, body } of store.documents<PendingUpload>('map_upload')) {
    const left: string[] = [];
    for (const path of body.paths) {
      const file = join(body.outDir, path);
      if (!existsSync(file)) continue;
      try {
        const res = await send(
          new URL(
            `/api/v1/sync/imagery/${encodeURIComponent(body.sceneId)}/file?path=${encodeURIComponent(path)}`,
            server.url,
          ),
          {
            method: 'PUT',
            headers: { authorization: `Bearer ${server.token}`, 'content-type': 'image/png' },
            body: new Uint8Array(readFileSync(file)),
            signal: AbortSignal.timeout(30_000),
          },
        );
        if (res.status === 204) sent++;
        else if (res.status >= 500 || res.status === 404)
          left.push(path); // not yet (scene unknown) or server trouble
        else log.warn({ scene: body.sceneId, path, status: res.status }, 'map refused by the server');
      } catch (e) {
        log.warn({ scene: body.sceneId, path, err: describeFetchError(e) }, 'map not uploaded; will retry');
        left.push(path);
      }
    }
    if (left.length) store.putDocument('map_upload', id, 0, { ...body, paths: left }, Date.now());
    else store.deleteDocument('map_upload', id);
  }
  return sent;
}
