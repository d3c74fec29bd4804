import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    // The first run unpacks Helm (a 34 MB zip) and lays out the runtime tree (pnpm install --prod).
    hookTimeout: 180_000,
    // pipeline.test.ts starts seven service processes; the files rendering charts beside it (a Helm process per
    // test) would leave them a fraction of the two cores a CI machine has, and their start-up past its timeouts.
    fileParallelism: false,
  },
});
