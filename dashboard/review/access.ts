// Who may see and do what in the review feature, on top of `Auth.visibleFarms` (the tenancy every
// route starts from): officers and admins review recommendations of the farms they can see;
// farmers see only approved ones; partners see none. A farm's farmer (or an admin) changes its
// tips, automations, overrides and webhooks; others who can see the farm may only read.
import { HatakeError } from '../../protocol/errors.ts';
import type { User } from '../auth.ts';
import type { ServerContext } from '../server.ts';

export interface FarmInfo {
  id: string;
  name: string;
  region: string | null;
  timezone: string;
}

export class Access {
  private readonly ctx: ServerContext;

  constructor(ctx: ServerContext) {
    this.ctx = ctx;
  }

  /** The farms the user may see at all. */
  visible(user: User): string[] {
    return this.ctx.auth.visibleFarms(user);
  }

  /** The farms whose recommendations under review the user may see; 403 for farmers and partners. */
  reviewFarms(user: User): string[] {
    if (user.role !== 'officer' && user.role !== 'admin')
      throw new HatakeError('HATAKE_E_FORBIDDEN', 'only extension officers review recommendations', {
        expected: 'an officer or admin account',
      });
    return this.visible(user);
  }

  /** The farms whose approved recommendations the user may see; 403 for partners. */
  approvedFarms(user: User): string[] {
    if (user.role === 'partner')
      throw new HatakeError('HATAKE_E_FORBIDDEN', 'IT partners do not see fertilization recommendations');
    return this.visible(user);
  }

  /** Whether the user may change things on the farm (its farmer, or an admin). */
  canManage(user: User, farm: string): boolean {
    return (user.role === 'farmer' && user.farms.includes(farm)) || user.role === 'admin';
  }

  /** 404 when the farm is not visible (never confirm it exists), 403 when it is visible but read-only. */
  requireManage(user: User, farm: string): void {
    if (!this.visible(user).includes(farm))
      throw new HatakeError('HATAKE_E_NOT_FOUND', `no farm "${farm.slice(0, 64)}"`);
    if (!this.canManage(user, farm))
      throw new HatakeError('HATAKE_E_FORBIDDEN', `only the farm's farmer may change this`, {
        expected: 'the farmer of the farm or an admin',
      });
  }

  /** 404 unless the farm is visible to the user. */
  requireVisible(user: User, farm: string): void {
    if (!this.visible(user).includes(farm))
      throw new HatakeError('HATAKE_E_NOT_FOUND', `no farm "${farm.slice(0, 64)}"`);
  }

  farm(id: string): FarmInfo | undefined {
    return this.ctx.db.prepare('SELECT id, name, region, timezone FROM farms WHERE id = ?').get(id) as
      FarmInfo | undefined;
  }
}

/** SQL placeholders for an IN list. */
export const inList = (n: number): string => Array.from({ length: n }, () => '?').join(',');
