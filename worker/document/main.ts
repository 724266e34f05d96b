// `npm run worker:document`: one document preprocessing worker, from env.
import { createSql } from '../../shared/db/client';
import { createListenSql } from '../../shared/db/listen-sql';
import { createLogger } from '../../shared/logger';
import { createRegistry } from '../../shared/metrics';
import { startMetricsServer } from '../../shared/metrics-server';
import { runMain, runUntilSignal } from '../../shared/process';
import { createOutboxWorkerMetrics } from '../metrics';
import { loadDocumentWorkerConfig } from './config';
import { startDocumentWorker } from './document-worker';

runMain('worker:document', async () => {
  const config = loadDocumentWorkerConfig(process.env);
  const logger = createLogger('document-worker', config.LOG_LEVEL);
  await runUntilSignal(logger, { stopping: 'document worker stopping', stopped: 'document worker stopped' }, async (stack) => {
    const sql = createSql(config.DATABASE_URL, {
      poolMode: config.DATABASE_POOL_MODE,
      max: config.DATABASE_POOL_MAX,
      applicationName: 'arcyou-document-worker',
    });
    stack.push('database pool', () => sql.end({ timeout: 5 }));
    const listenSql = createListenSql(config, 'arcyou-document-worker-listen');
    if (listenSql) stack.push('LISTEN connection', () => listenSql.end({ timeout: 5 }));
    const registry = createRegistry({ processMetrics: true });
    // Up before the worker and down after it, so a drain shows in the probes and metrics.
    if (config.METRICS_PORT) {
      const metricsServer = await startMetricsServer({
        host: config.METRICS_HOST,
        port: config.METRICS_PORT,
        registry,
        logger,
        checks: { postgres: () => sql`SELECT 1` },
      });
      stack.push('metrics server', () => metricsServer.close());
    }
    const worker = await startDocumentWorker(config, { sql, listenSql, logger, metrics: createOutboxWorkerMetrics(registry, 'document') });
    stack.push('document worker', () => worker.stop());
    logger.info(
      {
        workerId: config.WORKER_ID,
        sidecar: config.sidecarBaseUrl,
        maxAttempts: config.DOCUMENT_MAX_ATTEMPTS,
        concurrency: config.DOCUMENT_CONCURRENCY,
        listen: Boolean(listenSql),
      },
      'document worker started',
    );
  });
});
