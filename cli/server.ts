// `hatake server --config FILE` and its admin actions (token, user).
import { HatakeError } from '../protocol/errors.ts';
import { isId } from '../protocol/ids.ts';
import { loadServerConfig } from '../dashboard/config.ts';
import { HatakeServer } from '../dashboard/server.ts';
import { ROLES, type Role } from '../dashboard/auth.ts';
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
    process.stdout.write(`${s.ctx.auth.issueGatewayToken(values.gateway, values.farm)}\n`);
    await s.close();
    return 0;
  }
  if (action === 'user') {
    const password = process.env.HATAKE_PASSWORD;
    if (!values.name || !ROLES.includes(values.role as Role) || !password || password.length < 10) {
      throw new HatakeError(
        'HATAKE_E_CONFIG',
        'user needs --name, --role and HATAKE_PASSWORD (at least 10 characters)',
        {
          expected: `--role ${ROLES.join('|')}`,
        },
      );
    }
    const s = await HatakeServer.create({ ...config, logger: false });
    await s.ctx.auth.createUser(values.name, password, values.role as Role, {
      farms: list(values.farms),
      regions: list(values.regions),
    });
    await s.close();
    return 0;
  }
  if (action !== undefined)
    throw new HatakeError('HATAKE_E_CONFIG', `unknown server action "${action}"`, {
      expected: 'token | user',
    });
  const s = await HatakeServer.create(config);
  if (config.demo) await seedDemoUsers(s.ctx.auth);
  await s.listen();
  await untilSignal();
  await s.close();
  return 0;
}
