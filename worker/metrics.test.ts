// Worker metrics over HTTP (METRICS_PORT's server) against real PostgreSQL and Redis:
// a backlog shows as pending rows and lag seconds, then drains into the jobs counter.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus } from '../shared/bus/bus';
import { createMemoryBus } from '../shared/bus/memory-bus';
import { createRedisBus } from '../shared/bus/redis-bus';
import { loadConfig } from '../shared/config';
import type { Sql } from '../shared/db/client';
import { createLogger } from '../shared/logger';
import { createRegistry } from '../shared/metrics';
import { startMetricsServer } from '../shared/metrics-server';
import { createRedis } from '../shared/redis';
import { scrape, scrapeUntil, valueOf } from '../test/support/prometheus';
import { createTestDatabase, redisUrl, uniquePrefix, type TestDatabase } from '../test/support/services';
import { startChatWorker } from './chat/chat-worker';
import { chatWorkerEnv } from './config';
import { startOutboxStats } from './outbox/maintenance/outbox-stats';
import { createOutboxWorkerMetrics, registerQueueDepth } from './metrics';

const logger = createLogger('test', 'silent');

async function insertBacklog(sql: Sql, count: number, type: string, ageSeconds: number): Promise<void> {
  await sql`
    INSERT INTO outbox (type, room_id, payload, created_at)
    SELECT ${type}, ${randomUUID()}, jsonb_build_object('n', n), now() - make_interval(secs => ${ageSeconds})
    FROM generate_series(1, ${count}) AS n`;
}

describe('worker metrics', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  const settings = (env: Record<string, string> = {}) =>
    loadConfig(chatWorkerEnv, { DATABASE_URL: db.url, REDIS_URL: redisUrl(), POLL_INTERVAL_MS: '50', OUTBOX_STATS_INTERVAL_MS: '100', ...env });

  it('shows a backlog as pending count and lag while no worker runs, then jobs published, claims timed and the lag back to 0', async () => {
    await insertBacklog(db.sql, 20, 'room.updated', 90);
    await insertBacklog(db.sql, 3, 'document.preprocess.v1', 600); // the document worker's: not the chat worker's backlog
    const registry = createRegistry();
    const metrics = createOutboxWorkerMetrics(registry, 'chat');
    const bus = createRedisBus(redisUrl(), logger, 'test-metrics-worker');
    const server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      logger,
      checks: { postgres: () => db.sql`SELECT 1`, redis: () => bus.ping() },
    });
    const url = `http://127.0.0.1:${server.port}/metrics`;
    try {
      // The worker is stopped: only the backlog measurement runs.
      const stopStats = startOutboxStats(db.sql, 100, { excludeTypePrefix: 'document.' }, metrics.reportBacklog, logger);
      const backlog = await scrapeUntil(url, (s) => valueOf(s, 'arcyou_outbox_pending', { worker: 'chat' }) === 20);
      expect(valueOf(backlog, 'arcyou_outbox_lag_seconds', { worker: 'chat' })).toBeGreaterThanOrEqual(90);
      expect(valueOf(backlog, 'arcyou_outbox_lag_seconds', { worker: 'chat' })).toBeLessThan(600);
      expect(valueOf(backlog, 'arcyou_worker_jobs_total')).toBe(0);
      await stopStats();
      expect((await fetch(`http://127.0.0.1:${server.port}/ready`)).status).toBe(200);

      const worker = await startChatWorker(settings(), { sql: db.sql, listenSql: null, bus, logger, metrics });
      try {
        const drained = await scrapeUntil(
          url,
          (s) =>
            valueOf(s, 'arcyou_worker_jobs_total', { worker: 'chat', type: 'room.updated', status: 'published' }) === 20 &&
            valueOf(s, 'arcyou_outbox_pending', { worker: 'chat' }) === 0,
        );
        expect(valueOf(drained, 'arcyou_outbox_lag_seconds', { worker: 'chat' })).toBe(0);
        expect(valueOf(drained, 'arcyou_worker_claim_duration_seconds_count', { worker: 'chat' })).toBeGreaterThanOrEqual(1);
        expect(valueOf(drained, 'arcyou_worker_process_duration_seconds_count', { worker: 'chat' })).toBeGreaterThanOrEqual(1);
        expect(valueOf(drained, 'arcyou_worker_retries_total')).toBe(0);
      } finally {
        await worker.stop();
      }
    } finally {
      await server.close();
      await bus.close();
      await db.sql`DELETE FROM outbox`;
    }
  });

  it('counts failed publishes as retries, and rows it cannot turn into an event as dead', async () => {
    await db.sql`INSERT INTO outbox (type, room_id, payload) VALUES ('message.created', ${randomUUID()}, '{}'), ('room.updated', ${randomUUID()}, '{}')`;
    const registry = createRegistry();
    const metrics = createOutboxWorkerMetrics(registry, 'chat');
    // A bus that answers pings but refuses every message: failures the worker retries.
    const memoryBus = createMemoryBus();
    const refusingBus: Bus = { ...memoryBus, publish: async (messages) => messages.map(() => new Error('refused')) };
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry, logger, checks: {} });
    const worker = await startChatWorker(settings({ MAX_ATTEMPTS: '3', BACKOFF_BASE_MS: '20', BACKOFF_CAP_MS: '50' }), {
      sql: db.sql,
      listenSql: null,
      bus: refusingBus,
      logger,
      metrics,
    });
    try {
      const samples = await scrapeUntil(
        `http://127.0.0.1:${server.port}/metrics`,
        (s) => valueOf(s, 'arcyou_worker_jobs_total', { type: 'room.updated', status: 'dead' }) === 1,
      );
      expect(valueOf(samples, 'arcyou_worker_jobs_total', { worker: 'chat', type: 'message.created', status: 'dead' })).toBe(1); // no message id: dead at once
      expect(valueOf(samples, 'arcyou_worker_jobs_total', { worker: 'chat', type: 'room.updated', status: 'retry' })).toBe(2);
      expect(valueOf(samples, 'arcyou_worker_retries_total', { worker: 'chat', type: 'room.updated' })).toBe(2);
      expect(valueOf(samples, 'arcyou_worker_retries_total', { type: 'message.created' })).toBe(0);
    } finally {
      await worker.stop();
      await server.close();
    }
  });

  it('reports the size of Redis list and sorted-set queues on each scrape', async () => {
    const prefix = uniquePrefix('queue-depth');
    const redis = createRedis(redisUrl(), 'test-queue-depth');
    const registry = createRegistry();
    registerQueueDepth(registry, redis, { embedding: `${prefix}queue`, embedding_failed: `${prefix}failed`, embedding_delayed: { zset: `${prefix}delayed` } });
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry, logger, checks: {} });
    const url = `http://127.0.0.1:${server.port}/metrics`;
    try {
      let samples = await scrape(url);
      expect(valueOf(samples, 'arcyou_queue_depth', { queue: 'embedding' })).toBe(0);
      await redis.lpush(`${prefix}queue`, 'a', 'b', 'c');
      await redis.lpush(`${prefix}failed`, 'x');
      await redis.zadd(`${prefix}delayed`, 1, 'p', 2, 'q');
      samples = await scrape(url);
      expect(valueOf(samples, 'arcyou_queue_depth', { queue: 'embedding' })).toBe(3);
      expect(valueOf(samples, 'arcyou_queue_depth', { queue: 'embedding_failed' })).toBe(1);
      expect(valueOf(samples, 'arcyou_queue_depth', { queue: 'embedding_delayed' })).toBe(2);
    } finally {
      await server.close();
      await redis.del(`${prefix}queue`, `${prefix}failed`, `${prefix}delayed`);
      redis.disconnect();
    }
  });
});
