// The `hatake` command: parses arguments and calls the parts. Nothing else lives here.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isHatakeError } from '../protocol/errors.ts';

const HELP = `hatake — farm gateway, server and tools

Usage:
  hatake start [--data DIR] [--http-port N] [--mqtt-port N] [--interval SECONDS]
      The whole pipeline on one machine: server, gateway, simulated kits (demo).
  hatake gateway --config gateway.yaml
      Run a farm gateway.
  hatake server --config server.yaml
      Run the server.
  hatake server token --config server.yaml --gateway ID --farm ID
      Issue (or replace) a gateway's sync token and print it.
  hatake server user --config server.yaml --name NAME --role farmer|officer|partner|admin
                     [--farms a,b] [--regions x,y]      (password from HATAKE_PASSWORD)
      Create or update an account.
`;

export type Command = (args: string[]) => Promise<number>;

/** Parses options strictly; unknown options are an error with the usage line. */
export function options<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], spec: T) {
  return parseArgs({ args, options: spec, allowPositionals: true, strict: true });
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'start':
        return await (await import('./start.ts')).start(rest);
      case 'gateway':
        return await (await import('./gateway.ts')).gateway(rest);
      case 'server':
        return await (await import('./server.ts')).server(rest);
      case 'kit':
        return await (await import('./kit.ts')).kit(rest);
      case 'imagery':
        return await (await import('./imagery.ts')).imagery(rest);
      case 'model':
        return await (await import('./model.ts')).model(rest);
      case 'rx':
        return await (await import('./rx.ts')).rx(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      default:
        process.stderr.write(`hatake: unknown command "${cmd}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    if (isHatakeError(e)) {
      process.stderr.write(`hatake: ${e.describe()}\n`);
      return 1;
    }
    if (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`hatake: ${e.message}\n\n${HELP}`);
      return 2;
    }
    throw e;
  }
}

/** Resolves when the process is asked to stop (Ctrl-C or SIGTERM). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
