// Demo mode: the four demo accounts with the published demo password. Only `hatake start` and a
// server config with `demo: true` call this; a real deployment creates its own accounts.
import type { Auth } from './auth.ts';

export const DEMO_PASSWORD = 'hatake-demo';

export const DEMO_USERS = [
  { name: 'demo-farmer', role: 'farmer', farms: ['demo-farm'], regions: [] },
  { name: 'demo-officer', role: 'officer', farms: [], regions: ['niigata'] },
  { name: 'demo-partner', role: 'partner', farms: ['demo-farm'], regions: [] },
  { name: 'admin', role: 'admin', farms: [], regions: [] },
] as const;

/** Creates the demo accounts that do not exist yet. */
export async function seedDemoUsers(auth: Auth): Promise<void> {
  for (const u of DEMO_USERS) {
    if (!auth.hasUser(u.name))
      await auth.createUser(u.name, DEMO_PASSWORD, u.role, { farms: [...u.farms], regions: [...u.regions] });
  }
}
