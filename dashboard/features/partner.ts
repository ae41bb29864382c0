// Server feature plugin for issue 9 (kits, devices, gateways, provisioning). Registered by dashboard/server.ts; it adds its routes,
// its own tables (runtime/sqlite.ts migrate) and its sync appliers through `ctx`.
import type { App, ServerContext } from '../server.ts';

export async function partnerFeature(_app: App, _opts: { ctx: ServerContext }): Promise<void> {}
