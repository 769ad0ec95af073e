import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real worker threads; each test bounds its own work.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The machine has 2 cores: keep thread-heavy files from oversubscribing it.
    maxWorkers: 2,
  },
});
