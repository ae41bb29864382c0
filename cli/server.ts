// `hatake server --config FILE` and its admin actions: `token` (a gateway's), `user` (create an
// account, reset its password — which ends its sessions —, disable, enable or delete it) and
// `users` (the accounts). They work on the server's database, also while the server runs: a
// session ended here is refused by the running server at its next request.
import { HatakeError } from '../protocol/errors.ts';
import { isId } from '../protocol/ids.ts';
import { loadServerConfig } from '../dashboard/config.ts';
import { HatakeServer } from '../dashboard/server.ts';
import { registerGateway } from '../dashboard/routes/gateways.ts';
import {
  CLI_ACTOR,
  MIN_PASSWORD_LENGTH,
  ROLES,
  USER_NAME_PATTERN,
  type Account,
  type Role,
} from '../dashboard/auth.ts';
import { seedDemoUsers } from '../dashboard/demo.ts';
import { options, untilSignal } from './main.ts';

const list = (s: string | undefined) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [];

export async function server(args: string[]): Promise<number> {
  const { values, positionals } = options(args, {
    config: { type: 'string', short: 'c' },
    gateway: { type: 'string' },
    farm: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string' },
    farms: { type: 'string' },
    regions: { type: 'string' },
    disable: { type: 'boolean' },
    enable: { type: 'boolean' },
    delete: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (!values.config)
    throw new HatakeError('HATAKE_E_CONFIG', 'missing --config', { expected: '--config server.yaml' });
  const config = loadServerConfig(values.config);
  const action = positionals[0];
  if (action === 'token') {
    if (!isId(values.gateway) || !isId(values.farm)) {
      throw new HatakeError('HATAKE_E_CONFIG', 'token needs --gateway ID and --farm ID', {
        expected: 'ids of a-z, 0-9, - and _',
      });
    }
    const s = await HatakeServer.create({ ...config, logger: false });
    process.stdout.write(`${registerGateway(s.ctx, values.gateway, values.farm)}\n`);
    await s.close();
    return 0;
  }
  if (action === 'user') return await user(config, values);
  if (action === 'users') {
    const s = await HatakeServer.create({ ...config, logger: false });
    try {
      const accounts = s.ctx.auth.listUsers();
      // Without the sign-in locks: those live in the running server's memory, not in the database.
      const rows = accounts.map((a) => ({
        name: a.name,
        role: a.role,
        farms: a.farms,
        regions: a.regions,
        disabled: a.disabled === null ? null : new Date(a.disabled).toISOString(),
        created: new Date(a.created).toISOString(),
        lastLogin: a.lastLogin === null ? null : new Date(a.lastLogin).toISOString(),
        sessions: a.sessions,
      }));
      if (values.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else process.stdout.write(accountTable(accounts));
    } finally {
      await s.close();
    }
    return 0;
  }
  if (action !== undefined)
    throw new HatakeError('HATAKE_E_CONFIG', `unknown server action "${action}"`, {
      expected: 'token | user | users',
    });
  const s = await HatakeServer.create(config);
  if (config.demo) await seedDemoUsers(s.ctx.auth);
  await s.listen();
  await untilSignal();
  await s.close();
  return 0;
}

type ServerConfig = ReturnType<typeof loadServerConfig>;
interface UserOptions {
  name?: string;
  role?: string;
  farms?: string;
  regions?: string;
  disable?: boolean;
  enable?: boolean;
  delete?: boolean;
}

/**
 * `hatake server user --name NAME …`: with --disable, --enable or --delete, that; otherwise creates
 * the account (--role needed) or, when it exists, sets its password from HATAKE_PASSWORD (and its
 * role and scope when given; kept when not), ending its sessions. The last enabled admin can be
 * neither disabled, deleted nor demoted.
 */
async function user(config: ServerConfig, values: UserOptions): Promise<number> {
  const name = values.name;
  if (!name)
    throw new HatakeError('HATAKE_E_CONFIG', 'user needs --name', {
      expected: '--name NAME [--role ROLE] | --name NAME --disable | --enable | --delete',
    });
  const acts = (['disable', 'enable', 'delete'] as const).filter((a) => values[a]);
  if (acts.length > 1)
    throw new HatakeError('HATAKE_E_CONFIG', `--${acts.join(' and --')} do not go together`, {
      expected: 'one of --disable, --enable, --delete',
    });
  const act = acts[0];
  if (act && (values.role !== undefined || values.farms !== undefined || values.regions !== undefined))
    throw new HatakeError('HATAKE_E_CONFIG', `--${act} takes only --name`, {
      expected: `hatake server user --config FILE --name NAME --${act}`,
    });
  if (values.role !== undefined && !ROLES.includes(values.role as Role))
    throw new HatakeError('HATAKE_E_CONFIG', `unknown role "${values.role}"`, {
      expected: `--role ${ROLES.join('|')}`,
    });
  const password = process.env.HATAKE_PASSWORD;
  if (!act && (!password || password.length < MIN_PASSWORD_LENGTH))
    throw new HatakeError(
      'HATAKE_E_CONFIG',
      `user needs HATAKE_PASSWORD (at least ${MIN_PASSWORD_LENGTH} characters) to create an account or reset its password`,
      { expected: `--role ${ROLES.join('|')} for a new account` },
    );
  const s = await HatakeServer.create({ ...config, logger: false });
  try {
    const auth = s.ctx.auth;
    const before = auth.account(name);
    if (act) {
      if (!before) throw new HatakeError('HATAKE_E_NOT_FOUND', `no account ${name}`);
      if (act === 'delete') {
        auth.deleteUser(name, CLI_ACTOR);
        process.stdout.write(`deleted account ${name} (${before.sessions} sessions ended)\n`);
      } else {
        auth.setDisabled(name, act === 'disable', CLI_ACTOR);
        const what = act === 'disable' ? `disabled (${before.sessions} sessions ended)` : 'enabled';
        process.stdout.write(
          `account ${name} ${(before.disabled !== null) === (act === 'disable') ? `was already ${act}d` : what}\n`,
        );
      }
      return 0;
    }
    if (!before) {
      if (values.role === undefined)
        throw new HatakeError('HATAKE_E_CONFIG', `no account ${name} yet: creating one needs --role`, {
          expected: `--role ${ROLES.join('|')}`,
        });
      if (!new RegExp(USER_NAME_PATTERN).test(name))
        throw new HatakeError('HATAKE_E_CONFIG', `account name "${name}" is not allowed`, {
          expected: `a name matching ${USER_NAME_PATTERN}`,
        });
    }
    const role = (values.role as Role | undefined) ?? before!.role;
    // A new role without a scope given means none (as always); otherwise what is not given is kept.
    const keep = before && values.role === undefined;
    const farms = values.farms !== undefined ? list(values.farms) : keep ? before.farms : [];
    const regions = values.regions !== undefined ? list(values.regions) : keep ? before.regions : [];
    const done = await auth.createUser(name, password!, role, { farms, regions }, CLI_ACTOR);
    const still = before?.disabled != null ? '; it is still disabled (--enable)' : '';
    if (done === 'created') process.stdout.write(`created account ${name} (${role})\n`);
    else if (done === 'reset')
      process.stdout.write(`account ${name}: password reset, ${before!.sessions} sessions ended${still}\n`);
    else process.stdout.write(`account ${name}: same password, role and scope set (sessions kept)${still}\n`);
    return 0;
  } finally {
    await s.close();
  }
}

/** The accounts as a plain table for a terminal. */
function accountTable(accounts: Account[]): string {
  const rows = accounts.map((a) => [
    a.name,
    a.role,
    a.role === 'officer' ? a.regions.join(',') : a.farms.join(','),
    a.disabled !== null ? `disabled ${new Date(a.disabled).toISOString()}` : 'enabled',
    a.lastLogin !== null ? new Date(a.lastLogin).toISOString() : 'never',
    String(a.sessions),
  ]);
  const head = ['NAME', 'ROLE', 'FARMS/REGIONS', 'STATE', 'LAST SIGN-IN', 'SESSIONS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map(
      (r) =>
        `${r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}
