import { defineConfig } from 'vitest/config';

// Real servers take a few seconds to initialise (initdb especially), more than vitest's 5 s default.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
