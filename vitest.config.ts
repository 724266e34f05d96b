import { defineConfig } from 'vitest/config';

/**
 * Tests that need neither PostgreSQL nor Redis (`npm run test:unit`): pure logic, fakes,
 * local sockets at most. They run without the suite's service set-up, so one that reaches
 * for the services (inject('databaseUrl')) fails there instead of passing by luck.
 */
const UNIT = [
  'bench/lib/*.test.ts',
  'bench/load/*.test.ts',
  'client/**/*.test.ts',
  'gateway/api/*.test.ts',
  'gateway/delivery/*.test.ts',
  'gateway/frames.test.ts',
  'gateway/outbox-waker.test.ts',
  'gateway/rate-limit.test.ts',
  'gateway/uws-ordering.test.ts',
  'shared/cli/*.test.ts',
  'shared/config.test.ts',
  'shared/duration.test.ts',
  'shared/logger.test.ts',
  'shared/outbox/fast-path.test.ts',
  'shared/protocol/*.test.ts',
  'shared/stop-stack.test.ts',
  'shared/db/listen-sql.test.ts',
  'test/chaos/sdk-member.test.ts',
  'test/deploy/*.test.ts',
  'worker/document/sidecar-client.test.ts',
  'worker/embedding/chunk-text.test.ts',
  'worker/embedding/embeddings-client.test.ts',
  'worker/embedding/job.test.ts',
  'worker/outbox/backoff.test.ts',
  'worker/outbox/ops/outbox-args.test.ts',
  'worker/outbox/wake.test.ts',
];

const ALL = [
  'client/**/*.test.ts',
  'gateway/**/*.test.ts',
  'worker/**/*.test.ts',
  'shared/**/*.test.ts',
  'standalone/**/*.test.ts',
  'bench/**/*.test.ts',
  'test/**/*.test.ts',
];

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2-core CI machines: a few files at once, each with its own database.
    maxWorkers: 3,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      { extends: true, test: { name: 'services', include: ALL, exclude: UNIT, globalSetup: ['test/global-setup.ts'] } },
    ],
  },
});
