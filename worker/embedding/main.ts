// `npm run worker:embedding`: one embedding queue consumer, from env.
import { createSql } from '../../shared/db/client';
import { createLogger } from '../../shared/logger';
import { createRegistry } from '../../shared/metrics';
import { startMetricsServer } from '../../shared/metrics-server';
import { runMain, runUntilSignal } from '../../shared/process';
import { createRedisClient } from '../../shared/redis';
import { jobMetrics, registerQueueDepth } from '../metrics';
import { loadEmbeddingWorkerConfig } from './config';
import { startConsumer, type Consumer } from './consumer';
import { createPostEmbedder } from './embed-post';
import { createEmbeddingsClient } from './embeddings-client';
import { queueKeys } from './keys';

runMain('worker:embedding', async () => {
  const config = loadEmbeddingWorkerConfig(process.env);
  const logger = createLogger('embedding-worker', config.LOG_LEVEL);
  let consumer: Consumer | undefined;
  const messages = { stopping: 'embedding worker stopping', stopped: 'embedding worker stopped', stoppingFields: () => ({ inFlight: consumer?.inFlight() }) };
  await runUntilSignal(logger, messages, async (stack) => {
    const sql = createSql(config.DATABASE_URL, {
      poolMode: config.DATABASE_POOL_MODE,
      max: config.DATABASE_POOL_MAX,
      applicationName: 'arcyou-embedding-worker',
    });
    stack.push('database pool', () => sql.end({ timeout: 5 }));
    const redis = createRedisClient(config.REDIS_URL, 'arcyou-embedding');
    stack.push('Redis connection', () => redis.quit().catch(() => redis.disconnect()));
    const blocking = createRedisClient(config.REDIS_URL, 'arcyou-embedding-blocking');
    stack.push('blocking Redis connection', () => blocking.disconnect());
    for (const client of [redis, blocking]) client.on('error', (err: Error) => logger.warn({ err }, 'redis error'));

    const keys = queueKeys(config.EMBEDDING_QUEUE_KEY, config.EMBEDDING_FAILED_KEY);
    const registry = createRegistry({ processMetrics: true });
    const { jobs, retries } = jobMetrics(registry);
    const processing = keys.processing(config.EMBEDDING_CONSUMER_ID);
    registerQueueDepth(registry, redis, {
      [keys.queue]: keys.queue,
      [keys.delayed]: { zset: keys.delayed },
      [keys.failed]: keys.failed,
      [processing]: processing,
    });
    // Up before the consumer and down after it, so a drain shows in the probes and metrics.
    if (config.METRICS_PORT) {
      const checks = { postgres: () => sql`SELECT 1`, redis: () => redis.ping() };
      const metricsServer = await startMetricsServer({ host: config.METRICS_HOST, port: config.METRICS_PORT, registry, logger, checks });
      stack.push('metrics server', () => metricsServer.close());
    }

    const started = await startConsumer({
      redis,
      blocking,
      keys,
      consumerId: config.EMBEDDING_CONSUMER_ID,
      concurrency: config.EMBEDDING_CONCURRENCY,
      maxRetries: config.EMBEDDING_MAX_RETRIES,
      backoffBaseMs: config.EMBEDDING_BACKOFF_BASE_MS,
      backoffCapMs: config.EMBEDDING_BACKOFF_CAP_MS,
      blockTimeoutMs: config.EMBEDDING_BLOCK_TIMEOUT_MS,
      retryPollMs: config.EMBEDDING_RETRY_POLL_MS,
      heartbeatTtlMs: config.EMBEDDING_HEARTBEAT_TTL_MS,
      logger,
      process: createPostEmbedder({
        sql,
        client: createEmbeddingsClient({
          url: config.EMBEDDING_API_URL,
          model: config.EMBEDDING_MODEL,
          apiKey: config.EMBEDDING_API_KEY,
          timeoutMs: config.EMBEDDING_API_TIMEOUT_MS,
        }),
        model: config.EMBEDDING_MODEL,
        chunkChars: config.EMBEDDING_CHUNK_CHARS,
        chunkOverlap: config.EMBEDDING_CHUNK_OVERLAP,
        batchSize: config.EMBEDDING_BATCH_SIZE,
        maxChunks: config.EMBEDDING_MAX_CHUNKS,
      }),
      onSettled: (outcome) => {
        jobs.inc({ worker: 'embedding', type: 'embedding', status: outcome });
        if (outcome === 'retry') retries.inc({ worker: 'embedding', type: 'embedding' });
      },
    });
    consumer = started;
    stack.push('consumer', () => started.stop());
    logger.info(
      { consumerId: config.EMBEDDING_CONSUMER_ID, queue: keys.queue, api: config.EMBEDDING_API_URL, model: config.EMBEDDING_MODEL },
      'embedding worker started',
    );
  });
});
