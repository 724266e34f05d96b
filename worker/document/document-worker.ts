// One document worker: the outbox loop over `document.*` rows with the sidecar
// processor, woken by NOTIFY, plus the reaper and the retention sweep (and, given
// metrics, the backlog measurement).
import type { Sql } from '../../shared/db/client';
import type { Logger } from '../../shared/logger';
import { DOCUMENT_JOB_PREFIX } from '../../shared/outbox/document-preprocess';
import { startOutboxStats } from '../maintenance/outbox-stats';
import { startReaper } from '../maintenance/reaper';
import { startRetention } from '../maintenance/retention';
import type { OutboxWorkerMetrics } from '../metrics';
import { listenForOutbox } from '../notify';
import { startOutboxLoop, type OutboxLoopOptions } from '../outbox-loop';
import type { DocumentWorkerConfig } from './config';
import { createDocumentProcessor } from './document-processor';
import { createSidecarClient } from './sidecar-client';

export interface DocumentWorkerDeps {
  sql: Sql;
  /** A connection that can LISTEN (not through PgBouncer); null = polling only. */
  listenSql: Sql | null;
  logger: Logger;
  onSettled?: OutboxLoopOptions['onSettled'];
  /** From worker/metrics.ts `createOutboxWorkerMetrics(registry, 'document')`; none = no metrics. */
  metrics?: OutboxWorkerMetrics;
}

export async function startDocumentWorker(config: DocumentWorkerConfig, deps: DocumentWorkerDeps): Promise<{ stop(): Promise<void> }> {
  const { sql, logger } = deps;
  const loop = startOutboxLoop({
    sql,
    logger,
    workerId: config.WORKER_ID,
    batchSize: config.BATCH_SIZE,
    lockSeconds: config.LOCK_SECONDS,
    includeTypePrefix: DOCUMENT_JOB_PREFIX,
    pollIntervalMs: config.POLL_INTERVAL_MS,
    maxAttempts: config.DOCUMENT_MAX_ATTEMPTS,
    backoffBaseMs: config.BACKOFF_BASE_MS,
    backoffCapMs: config.BACKOFF_CAP_MS,
    process: createDocumentProcessor({
      sql,
      logger,
      sidecar: createSidecarClient(config.sidecarBaseUrl, config.SIDECAR_TIMEOUT_MS),
      maxAttempts: config.DOCUMENT_MAX_ATTEMPTS,
      concurrency: config.DOCUMENT_CONCURRENCY,
    }),
    onSettled: (row, outcome) => {
      deps.metrics?.onSettled(row, outcome);
      deps.onSettled?.(row, outcome);
    },
    onTimed: deps.metrics?.onTimed,
  });
  let unlisten: (() => Promise<void>) | null = null;
  if (deps.listenSql) {
    try {
      unlisten = await listenForOutbox(deps.listenSql, loop.wake, logger);
    } catch (err) {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'LISTEN failed; polling only');
    }
  }
  const stopReaper = startReaper(sql, config.REAP_INTERVAL_MS, logger, loop.wake);
  const stopRetention = startRetention(sql, { retentionMs: config.OUTBOX_RETENTION, intervalMs: config.OUTBOX_RETENTION_INTERVAL_MS, batchSize: config.OUTBOX_RETENTION_BATCH }, logger);
  const metrics = deps.metrics;
  const stopStats = metrics
    ? startOutboxStats(sql, config.OUTBOX_STATS_INTERVAL_MS, { includeTypePrefix: DOCUMENT_JOB_PREFIX }, metrics.reportBacklog, logger)
    : null;
  return {
    async stop() {
      await stopStats?.();
      await stopReaper();
      await stopRetention();
      await unlisten?.().catch(() => {});
      await loop.stop();
    },
  };
}
