// The dashboard's map settings for signed-in browsers: the base layer server.yaml names
// (`map.baseLayer`), which every map shows under the fields unless a browser chose its own. The
// same for every user, so a farmer need not type a tile address on each phone.
import { ProblemBody } from '../../protocol/api.ts';
import { mapSettings, MapSettings, type MapConfig } from '../../protocol/server-config.ts';
import type { App } from '../server.ts';
import { requireSession } from '../server.ts';

export async function mapRoutes(app: App, { map }: { map: MapConfig | undefined }): Promise<void> {
  const settings = mapSettings(map);
  app.get(
    '/api/v1/map',
    {
      schema: {
        summary: "The maps' base layer set in server.yaml (map.baseLayer), or null",
        description:
          'Every map of the dashboard shows this tile layer under the fields unless the browser chose its ' +
          'own (kept in that browser only). `baseLayer` is null when the server sets none: the maps then ' +
          'draw the fields on a plain background and need nothing from the internet.',
        tags: ['fields'],
        security: [{ session: [] }],
        response: { 200: MapSettings, 401: ProblemBody },
      },
    },
    async (request) => {
      requireSession(request);
      return settings;
    },
  );
}
