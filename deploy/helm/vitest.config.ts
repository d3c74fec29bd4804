import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    // The first run builds helm-render (Go) and the runtime tree (pnpm install --prod).
    hookTimeout: 180_000,
  },
});
