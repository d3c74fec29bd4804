import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each case starts processes and servers on two shared cores.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
