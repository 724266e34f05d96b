import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'client/**/*.test.ts',
      'gateway/**/*.test.ts',
      'worker/**/*.test.ts',
      'shared/**/*.test.ts',
      'standalone/**/*.test.ts',
      'bench/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2-core CI machines: a few files at once, each with its own database.
    maxWorkers: 3,
  },
});
