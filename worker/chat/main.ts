// `npm run worker`: one chat outbox worker, from env.
import { connectRedisBus } from '../../shared/bus/connect-redis-bus';
import { loadConfig } from '../../shared/config';
import { createSql } from '../../shared/db/client';
import { createLogger } from '../../shared/logger';
import { createRegistry } from '../../shared/metrics';
import { startMetricsServer } from '../../shared/metrics-server';
import { onShutdownSignal, runMain } from '../../shared/process';
import { startChatWorker } from './chat-worker';
import { chatWorkerEnv } from '../config';
import { createOutboxWorkerMetrics } from '../metrics';

runMain('worker', async () => {
  const config = loadConfig(chatWorkerEnv);
  const logger = createLogger('chat-worker', config.LOG_LEVEL);
  const sql = createSql(config.DATABASE_URL, { poolMode: config.DATABASE_POOL_MODE, max: config.DATABASE_POOL_MAX, applicationName: 'arcyou-chat-worker' });
  const listenUrl = config.LISTEN_DATABASE_URL ?? (config.DATABASE_POOL_MODE === 'direct' ? config.DATABASE_URL : null);
  const listenSql = listenUrl ? createSql(listenUrl, { max: 1, applicationName: 'arcyou-chat-worker-listen' }) : null;
  const bus = connectRedisBus(config.REDIS_URL, logger, 'arcyou-chat-worker');
  const registry = createRegistry({ processMetrics: true });
  const worker = await startChatWorker(config, { sql, listenSql, bus, logger, metrics: createOutboxWorkerMetrics(registry, 'chat') });
  const metricsServer = config.METRICS_PORT
    ? await startMetricsServer({ host: config.METRICS_HOST, port: config.METRICS_PORT, registry, logger, checks: { postgres: () => sql`SELECT 1`, redis: () => bus.ping() } })
    : null;
  logger.info({ workerId: config.WORKER_ID, pubsubMode: config.PUBSUB_MODE, listen: Boolean(listenSql) }, 'chat worker started');

  onShutdownSignal(async (signal) => {
    logger.info({ signal }, 'chat worker stopping');
    await worker.stop();
    await metricsServer?.close();
    await bus.close();
    await Promise.all([sql.end({ timeout: 5 }), listenSql?.end({ timeout: 5 })]);
    logger.info('chat worker stopped');
  });
});
