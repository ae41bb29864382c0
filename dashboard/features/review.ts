// Server feature plugin for issue 8 (review workflow, tips, automations, notifications). Registered by dashboard/server.ts; it adds its routes,
// its own tables (runtime/sqlite.ts migrate) and its sync appliers through `ctx`.
import type { App, ServerContext } from '../server.ts';

export async function reviewFeature(_app: App, _opts: { ctx: ServerContext }): Promise<void> {}
