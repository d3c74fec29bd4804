import { defineConfig } from 'vitest/config';

/** Benchmarks: they print figures and assert nothing about speed (the machines are shared and noisy). */
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.ts'],
    fileParallelism: false,
    testTimeout: 1_800_000,
    hookTimeout: 120_000,
  },
});
