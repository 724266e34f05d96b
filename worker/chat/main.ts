// `npm run worker`: one chat outbox worker, from env.
import { connectRedisBus } from '../../shared/bus/connect-redis-bus';
import { loadConfig } from '../../shared/config';
import { createSql } from '../../shared/db/client';
import { createListenSql } from '../../shared/db/listen-sql';
import { createLogger } from '../../shared/logger';
import { createRegistry } from '../../shared/metrics';
import { startMetricsServer } from '../../shared/metrics-server';
import { runMain, runUntilSignal } from '../../shared/process';
import { startChatWorker } from './chat-worker';
import { chatWorkerEnv } from '../config';
import { createOutboxWorkerMetrics } from '../metrics';

runMain('worker', async () => {
  const config = loadConfig(chatWorkerEnv);
  const logger = createLogger('chat-worker', config.LOG_LEVEL);
  await runUntilSignal(logger, { stopping: 'chat worker stopping', stopped: 'chat worker stopped' }, async (stack) => {
    const sql = createSql(config.DATABASE_URL, { poolMode: config.DATABASE_POOL_MODE, max: config.DATABASE_POOL_MAX, applicationName: 'arcyou-chat-worker' });
    stack.push('database pool', () => sql.end({ timeout: 5 }));
    const listenSql = createListenSql(config, 'arcyou-chat-worker-listen');
    if (listenSql) stack.push('LISTEN connection', () => listenSql.end({ timeout: 5 }));
    const bus = connectRedisBus(config.REDIS_URL, logger, 'arcyou-chat-worker');
    stack.push('bus', () => bus.close());
    const registry = createRegistry({ processMetrics: true });
    // Up before the worker and down after it, so a drain shows in the probes and metrics.
    if (config.METRICS_PORT) {
      const checks = { postgres: () => sql`SELECT 1`, redis: () => bus.ping() };
      const metricsServer = await startMetricsServer({ host: config.METRICS_HOST, port: config.METRICS_PORT, registry, logger, checks });
      stack.push('metrics server', () => metricsServer.close());
    }
    const worker = await startChatWorker(config, { sql, listenSql, bus, logger, metrics: createOutboxWorkerMetrics(registry, 'chat') });
    stack.push('chat worker', () => worker.stop());
    logger.info({ workerId: config.WORKER_ID, pubsubMode: config.PUBSUB_MODE, listen: Boolean(listenSql) }, 'chat worker started');
  });
});
