// `npm run worker:document`: one document preprocessing worker, from env.
import { createSql } from '../../shared/db/client';
import { createLogger } from '../../shared/logger';
import { createRegistry } from '../../shared/metrics';
import { startMetricsServer } from '../../shared/metrics-server';
import { onShutdownSignal, runMain } from '../../shared/process';
import { createOutboxWorkerMetrics } from '../metrics';
import { loadDocumentWorkerConfig } from './config';
import { startDocumentWorker } from './document-worker';

runMain('worker:document', async () => {
  const config = loadDocumentWorkerConfig(process.env);
  const logger = createLogger('document-worker', config.LOG_LEVEL);
  const sql = createSql(config.DATABASE_URL, { poolMode: config.DATABASE_POOL_MODE, max: config.DATABASE_POOL_MAX, applicationName: 'arcyou-document-worker' });
  const listenUrl = config.LISTEN_DATABASE_URL ?? (config.DATABASE_POOL_MODE === 'direct' ? config.DATABASE_URL : null);
  const listenSql = listenUrl ? createSql(listenUrl, { max: 1, applicationName: 'arcyou-document-worker-listen' }) : null;
  const registry = createRegistry({ processMetrics: true });
  const worker = await startDocumentWorker(config, { sql, listenSql, logger, metrics: createOutboxWorkerMetrics(registry, 'document') });
  const metricsServer = config.METRICS_PORT
    ? await startMetricsServer({ host: config.METRICS_HOST, port: config.METRICS_PORT, registry, logger, checks: { postgres: () => sql`SELECT 1` } })
    : null;
  logger.info(
    { workerId: config.WORKER_ID, sidecar: config.sidecarBaseUrl, maxAttempts: config.DOCUMENT_MAX_ATTEMPTS, concurrency: config.DOCUMENT_CONCURRENCY, listen: Boolean(listenSql) },
    'document worker started',
  );

  onShutdownSignal(async (signal) => {
    logger.info({ signal }, 'document worker stopping');
    await worker.stop();
    await metricsServer?.close();
    await Promise.all([sql.end({ timeout: 5 }), listenSql?.end({ timeout: 5 })]);
    logger.info('document worker stopped');
  });
});
