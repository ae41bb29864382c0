#!/usr/bin/env node
// The `hatake` command. Sources are TypeScript run through tsx's loader, so there is no build
// step to forget and no stale output to debug on a gateway.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
