// `hatake gateway --config FILE`, `hatake gateway cert --out DIR`, `hatake gateway register …` and
// `hatake gateway override-code --config FILE`.
import { HatakeError } from '../protocol/errors.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { Gateway } from '../gateway/gateway.ts';
import { registerGateway } from '../gateway/register.ts';
import { loadOrCreateOverrideToken } from '../gateway/automations/override-token.ts';
import { options, untilSignal } from './main.ts';

export async function gateway(args: string[]): Promise<number> {
  const { values, positionals } = options(args, {
    config: { type: 'string', short: 'c' },
    out: { type: 'string' },
    name: { type: 'string' },
    days: { type: 'string' },
    server: { type: 'string' },
    farm: { type: 'string' },
    id: { type: 'string' },
    user: { type: 'string' },
    ca: { type: 'string' },
  });
  if (positionals[0] === 'register') {
    const password = process.env.HATAKE_PASSWORD;
    if (!values.server || !values.farm || !values.id || !values.user || !password) {
      throw new HatakeError(
        'HATAKE_E_CONFIG',
        'register needs --server URL --farm ID --id GATEWAY --user NAME and HATAKE_PASSWORD',
        {
          expected:
            'hatake gateway register --server https://… --farm my-farm --id gw-1 --user partner-name [--out DIR] [--ca FILE]',
        },
      );
    }
    const r = await registerGateway({
      server: values.server,
      farm: values.farm,
      id: values.id,
      user: values.user,
      password,
      outDir: values.out ?? '.',
      ca: values.ca,
    });
    process.stdout.write(`registered. Add to gateway.yaml:\n\n${r.snippet}`);
    return 0;
  }
  if (positionals[0] === 'cert') {
    if (!values.out)
      throw new HatakeError('HATAKE_E_CONFIG', 'missing --out DIR', {
        expected: 'hatake gateway cert --out DIR [--name HOST] [--days N]',
      });
    // Loaded for this command only: certificate generation (selfsigned and its ASN.1 stack, about
    // 200 modules) is no part of a running gateway's memory.
    const { makeSelfSignedCert } = await import('../gateway/cert.ts');
    const c = await makeSelfSignedCert(values.out, {
      name: values.name,
      days: values.days ? Number(values.days) : undefined,
    });
    process.stdout.write(`certificate: ${c.cert}\nkey:         ${c.key}\nfingerprint: ${c.fingerprint}\n`);
    return 0;
  }
  if (positionals[0] === 'override-code') {
    // The code the gateway page asks for before a valve or gate is held by hand: read from the data
    // folder (made here on a gateway that has not started yet, as the gateway would), printed as a
    // card to keep in the barn.
    if (!values.config)
      throw new HatakeError('HATAKE_E_CONFIG', 'missing --config', {
        expected: 'hatake gateway override-code --config gateway.yaml',
      });
    const c = loadGatewayConfig(values.config);
    const { token, file } = loadOrCreateOverrideToken(c.dataDir);
    const host =
      c.http.host === '0.0.0.0' || c.http.host === '::' ? '<このゲートウェイのアドレス>' : c.http.host;
    process.stdout.write(
      [
        'hatake 手動操作コード / manual override code',
        '',
        `    ${token}`,
        '',
        '水門・バルブを手で開け閉めするときに、ゲートウェイの自動制御ページで入力します。',
        "Typed on the gateway's automations page to hold a valve or gate open or closed by hand.",
        `  http://${host}:${c.http.port}/automations`,
        '大文字・小文字、空白、ハイフンは区別しません。/ Case, spaces and dashes do not matter.',
        `(${file})`,
        '',
      ].join('\n'),
    );
    return 0;
  }
  if (positionals[0] !== undefined)
    throw new HatakeError('HATAKE_E_CONFIG', `unknown gateway action "${positionals[0]}"`, {
      expected: 'cert | register | override-code',
    });
  if (!values.config)
    throw new HatakeError('HATAKE_E_CONFIG', 'missing --config', { expected: '--config gateway.yaml' });
  const gw = new Gateway(loadGatewayConfig(values.config));
  await gw.start();
  const sig = await untilSignal();
  gw.log.info({ signal: sig }, 'stopping');
  await gw.stop();
  return 0;
}
