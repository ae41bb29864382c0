// The `hatake` command: parses arguments and calls the parts. Nothing else lives here.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isHatakeError } from '../protocol/errors.ts';

const HELP = `hatake — farm gateway, server and tools

Usage:
  hatake start [--data DIR] [--http-port N] [--mqtt-port N] [--gateway-port N] [--interval SECONDS]
      The whole pipeline on one machine: server, gateway, simulated kits, a demo scene (demo).

  hatake gateway --config gateway.yaml              run a farm gateway
  hatake gateway cert --out DIR [--name HOST]       a self-signed certificate for MQTT over TLS
  hatake gateway register --server URL --farm ID --id GATEWAY --user NAME [--out DIR]
      get this gateway's sync token and the server's signing key (password from HATAKE_PASSWORD) [--ca FILE]
  hatake gateway override-code --config gateway.yaml
      print the code the gateway's automations page asks for before a valve is held by hand

  hatake server --config server.yaml                run the server
  hatake server token --config server.yaml --gateway ID --farm ID
  hatake server user --config server.yaml --name NAME [--role farmer|officer|partner|admin]
                     [--farms a,b] [--regions x,y]  create, or set the password (HATAKE_PASSWORD; ends its sessions)
  hatake server user --config server.yaml --name NAME --disable | --enable | --delete
  hatake server users --config server.yaml [--json]

  hatake kit list | validate FILE | provision FILE --out DIR [--device ID] | decode --kit KIT … | command …
      sensor kits: the catalogue, manifests, credentials and firmware configs, payload decoding
  hatake imagery process SCENE… --fields FIELDS.geojson --out DIR [--profile s2-l2a] [--bands …]
  hatake imagery profiles | indices
  hatake model list [--json] | verify [MODEL] | run MODEL --input JSON | build [--check] | train …
  hatake rx recommend … | export REC.json --format isoxml|shp|geojson|csv --out FILE

"hatake kit --help" and "hatake imagery --help" describe their options in full.
`;

export type Command = (args: string[]) => Promise<number>;

/** Parses options strictly; unknown options are an error with the usage line. */
export function options<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], spec: T) {
  return parseArgs({ args, options: spec, allowPositionals: true, strict: true });
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // kit, imagery and model print their own detailed help; the others share this one.
  if (
    (rest.includes('--help') || rest.includes('-h')) &&
    cmd !== 'kit' &&
    cmd !== 'imagery' &&
    cmd !== 'model'
  ) {
    process.stdout.write(HELP);
    return 0;
  }
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

/**
 * For the command's entries (bin/hatake.js, cli/built.ts): a reader that closed the pipe early
 * (`hatake kit list | head`) ends the command quietly, as for any Unix tool, instead of an
 * unhandled EPIPE with a stack trace. Not in `main`, which tests call in-process.
 */
export function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      process.exit(process.exitCode ?? 0);
    });
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
