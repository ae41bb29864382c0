// The MQTT scene manifest (protocol/imagery.ts) of a scene's bytes, as a provider announces the
// Fields of The World clip the imagery tests send: Sentinel-2 L2A, four bands, acquired 2021-05-20.
import { createHash } from 'node:crypto';
import type { SceneManifest } from '../../protocol/imagery.ts';

export function sceneManifest(
  sceneId: string,
  bytes: Buffer,
  chunkSize: number,
  over: Partial<SceneManifest> = {},
): SceneManifest {
  return {
    v: 1,
    sceneId,
    acquired: '2021-05-20T10:06:31Z',
    profile: 's2-l2a',
    bands: { red: 1, green: 2, blue: 3, nir: 4 },
    offset: 0,
    format: 'geotiff',
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    chunkSize,
    chunkCount: Math.ceil(bytes.length / chunkSize),
    ...over,
  };
}
