#!/usr/bin/env node
// The `hatake` command from the sources: TypeScript run through tsx's loader, no build step while
// developing. `npm start` and a gateway run the compiled tree, dist/hatake.mjs (scripts/build.js).
import { register } from 'tsx/esm/api';

register();
const { main, endQuietlyOnClosedPipe } = await import('../cli/main.ts');
endQuietlyOnClosedPipe();
process.exitCode = await main(process.argv.slice(2));
