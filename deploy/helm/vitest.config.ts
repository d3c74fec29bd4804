import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    // The first run unpacks Helm (a 34 MB zip) and lays out the runtime tree (pnpm install --prod).
    hookTimeout: 180_000,
  },
});
