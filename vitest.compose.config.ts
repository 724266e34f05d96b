// `npm run test:compose`: the compose stack on a real Docker engine (opt-in: it builds
// images and takes minutes). Kept out of `npm test`'s file pattern.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/compose/*.compose.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 600_000,
    maxWorkers: 1,
  },
});
