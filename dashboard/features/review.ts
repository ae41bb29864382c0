// Server feature plugin for issue 8 (review workflow, tips, automations, notifications). Registered by dashboard/server.ts; it adds its routes,
// its own tables (runtime/sqlite.ts migrate) and its sync appliers through `ctx`. Everything lives in dashboard/review/.
import type { App, ServerContext } from '../server.ts';
import { registerReview } from '../review/register.ts';

export async function reviewFeature(app: App, { ctx }: { ctx: ServerContext }): Promise<void> {
  await registerReview(app, ctx);
}
