import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Native addons (better-sqlite3, onnxruntime-node, sharp) are happiest in child processes.
    pool: 'forks',
    // Two files at a time: much of the suite waits on sockets, timers, child processes and
    // fsync rather than the CPU, and vitest's default (cores − 1) ran it one file at a time on
    // the 2-core CI machine (about 23 min). Three at a time starved the I/O-heavy chaos tests.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
