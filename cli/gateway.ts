// `hatake gateway --config FILE`
import { HatakeError } from '../protocol/errors.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { Gateway } from '../gateway/gateway.ts';
import { options, untilSignal } from './main.ts';

export async function gateway(args: string[]): Promise<number> {
  const { values } = options(args, { config: { type: 'string', short: 'c' } });
  if (!values.config)
    throw new HatakeError('HATAKE_E_CONFIG', 'missing --config', { expected: '--config gateway.yaml' });
  const gw = new Gateway(loadGatewayConfig(values.config));
  await gw.start();
  await untilSignal();
  await gw.stop();
  return 0;
}
