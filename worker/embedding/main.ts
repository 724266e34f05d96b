// `npm run worker:embedding`: one embedding queue consumer, from env.
import { createSql } from '../../shared/db/client';
import { createLogger } from '../../shared/logger';
import { createRegistry } from '../../shared/metrics';
import { startMetricsServer } from '../../shared/metrics-server';
import { onShutdownSignal, runMain } from '../../shared/process';
import { createRedisClient } from '../../shared/redis';
import { jobMetrics, registerQueueDepth } from '../metrics';
import { loadEmbeddingWorkerConfig } from './config';
import { startConsumer } from './consumer';
import { createPostEmbedder } from './embed-post';
import { createEmbeddingsClient } from './embeddings-client';
import { queueKeys } from './keys';

runMain('worker:embedding', async () => {
  const config = loadEmbeddingWorkerConfig(process.env);
  const logger = createLogger('embedding-worker', config.LOG_LEVEL);
  const sql = createSql(config.DATABASE_URL, { poolMode: config.DATABASE_POOL_MODE, max: config.DATABASE_POOL_MAX, applicationName: 'arcyou-embedding-worker' });
  const redis = createRedisClient(config.REDIS_URL, 'arcyou-embedding');
  const blocking = createRedisClient(config.REDIS_URL, 'arcyou-embedding-blocking');
  for (const client of [redis, blocking]) client.on('error', (err: Error) => logger.warn({ err }, 'redis error'));

  const keys = queueKeys(config.EMBEDDING_QUEUE_KEY, config.EMBEDDING_FAILED_KEY);
  const registry = createRegistry({ processMetrics: true });
  const { jobs, retries } = jobMetrics(registry);
  const processing = keys.processing(config.EMBEDDING_CONSUMER_ID);
  registerQueueDepth(registry, redis, { [keys.queue]: keys.queue, [keys.delayed]: { zset: keys.delayed }, [keys.failed]: keys.failed, [processing]: processing });

  const consumer = await startConsumer({
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
      client: createEmbeddingsClient({ url: config.EMBEDDING_API_URL, model: config.EMBEDDING_MODEL, apiKey: config.EMBEDDING_API_KEY, timeoutMs: config.EMBEDDING_API_TIMEOUT_MS }),
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
  const metricsServer = config.METRICS_PORT
    ? await startMetricsServer({ host: config.METRICS_HOST, port: config.METRICS_PORT, registry, logger, checks: { postgres: () => sql`SELECT 1`, redis: () => redis.ping() } })
    : null;

  onShutdownSignal(async (signal) => {
    logger.info({ signal, inFlight: consumer.inFlight() }, 'embedding worker stopping');
    await consumer.stop();
    await metricsServer?.close();
    blocking.disconnect();
    await redis.quit().catch(() => redis.disconnect());
    await sql.end({ timeout: 5 });
    logger.info('embedding worker stopped');
  });
  logger.info({ consumerId: config.EMBEDDING_CONSUMER_ID, queue: keys.queue, api: config.EMBEDDING_API_URL, model: config.EMBEDDING_MODEL }, 'embedding worker started');
});
