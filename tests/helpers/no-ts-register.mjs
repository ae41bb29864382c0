// `node --import` this file: registers tests/helpers/no-ts-loader.mjs (in the main thread and, as
// workers inherit the flag, in every worker).
import { register } from 'node:module';

register('./no-ts-loader.mjs', import.meta.url);
