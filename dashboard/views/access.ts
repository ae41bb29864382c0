// Tenancy for the view and partner routes: a farm the caller may not see does not exist for them
// (404, so a stranger cannot even learn which farm ids are taken); a role that may see the farm
// but not use the route gets 403.
import type { FastifyRequest } from 'fastify';
import { HatakeError } from '../../protocol/errors.ts';
import type { Role, Session } from '../auth.ts';
import type { ServerContext } from '../server.ts';
import { requireSession } from '../server.ts';

export interface FarmRow {
  id: string;
  name: string;
  region: string | null;
  timezone: string;
}

/** The caller's session and the farm they asked for, or 401 / 403 / 404. */
export function farmAccess(
  ctx: ServerContext,
  request: FastifyRequest,
  farm: string,
  roles?: readonly Role[],
): { session: Session; farm: FarmRow | undefined } {
  const session = requireSession(request);
  if (!ctx.auth.visibleFarms(session.user).includes(farm))
    throw new HatakeError('HATAKE_E_NOT_FOUND', `no farm "${farm}"`);
  if (roles && !roles.includes(session.user.role))
    throw new HatakeError('HATAKE_E_FORBIDDEN', `a ${session.user.role} may not use this route`, {
      expected: `one of the roles ${roles.join(', ')}`,
    });
  const row = ctx.db.prepare('SELECT id, name, region, timezone FROM farms WHERE id = ?').get(farm) as
    FarmRow | undefined;
  return { session, farm: row };
}

/** Like farmAccess, but the farm must already be known to the server (synced from a gateway). */
export function knownFarm(
  ctx: ServerContext,
  request: FastifyRequest,
  farm: string,
  roles?: readonly Role[],
): { session: Session; farm: FarmRow } {
  const a = farmAccess(ctx, request, farm, roles);
  if (!a.farm) throw new HatakeError('HATAKE_E_NOT_FOUND', `farm "${farm}" has not synced yet`);
  return { session: a.session, farm: a.farm };
}

/** `?` placeholders for an IN list. */
export const inList = (n: number): string => Array.from({ length: n }, () => '?').join(',');
