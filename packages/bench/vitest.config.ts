import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Each file starts its own servers and services; one file at a time keeps the two cores for them.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
