import { defineConfig } from 'vitest/config';

/** Runs kept out of the suite: long, or known to fail on the servers CI has (each file says why). */
export default defineConfig({
  test: {
    include: ['soak/**/*.soak.ts'],
    fileParallelism: false,
    testTimeout: 900_000,
    hookTimeout: 120_000,
  },
});
