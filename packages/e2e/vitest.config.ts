import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Each file starts its own servers and services; running files one at a time keeps the two cores for them.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
