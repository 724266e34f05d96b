// What every outbox worker process runs around its processor: the claim loop, the
// NOTIFY wake-up, the reaper, the retention sweep and (given metrics) the backlog gauges.
// The chat and document workers differ only in their filter and their processor.
import type { Sql } from '../../shared/db/client';
import type { Logger } from '../../shared/logger';
import { startOutboxStats } from './maintenance/outbox-stats';
import { startReaper } from './maintenance/reaper';
import { startRetention } from './maintenance/retention';
import type { OutboxWorkerMetrics } from '../metrics';
import { listenForOutbox } from './notify';
import { startOutboxLoop, type OutboxLoopOptions, type ProcessBatch, type ProcessEach } from './loop';

/** The outboxWorkerEnv settings (worker/config.ts) this needs. */
export interface OutboxWorkerSettings {
  WORKER_ID: string;
  BATCH_SIZE: number;
  LOCK_SECONDS: number;
  POLL_INTERVAL_MS: number;
  BACKOFF_BASE_MS: number;
  BACKOFF_CAP_MS: number;
  REAP_INTERVAL_MS: number;
  OUTBOX_RETENTION: number;
  OUTBOX_RETENTION_INTERVAL_MS: number;
  OUTBOX_RETENTION_BATCH: number;
  OUTBOX_STATS_INTERVAL_MS: number;
}

export interface OutboxWorkerDeps {
  sql: Sql;
  /** A connection that can LISTEN (not through PgBouncer); null = polling only. */
  listenSql: Sql | null;
  logger: Logger;
  onSettled?: OutboxLoopOptions['onSettled'];
  /** From worker/metrics.ts `createOutboxWorkerMetrics(registry, kind)`; none = no metrics. */
  metrics?: OutboxWorkerMetrics;
}

export interface OutboxWorkerJob {
  filter: { includeTypePrefix?: string; excludeTypePrefix?: string };
  process: ProcessBatch | ProcessEach;
  maxAttempts: number;
  ready?: OutboxLoopOptions['ready'];
}

export async function startOutboxWorker(settings: OutboxWorkerSettings, job: OutboxWorkerJob, deps: OutboxWorkerDeps): Promise<{ stop(): Promise<void> }> {
  const { sql, logger, metrics } = deps;
  const loop = startOutboxLoop({
    sql,
    logger,
    workerId: settings.WORKER_ID,
    batchSize: settings.BATCH_SIZE,
    lockSeconds: settings.LOCK_SECONDS,
    ...job.filter,
    pollIntervalMs: settings.POLL_INTERVAL_MS,
    maxAttempts: job.maxAttempts,
    backoffBaseMs: settings.BACKOFF_BASE_MS,
    backoffCapMs: settings.BACKOFF_CAP_MS,
    process: job.process,
    ready: job.ready,
    onSettled: (row, outcome) => {
      metrics?.onSettled(row, outcome);
      deps.onSettled?.(row, outcome);
    },
    onTimed: metrics?.onTimed,
  });
  let unlisten: (() => Promise<void>) | null = null;
  if (deps.listenSql) {
    try {
      unlisten = await listenForOutbox(deps.listenSql, loop.wake, logger);
    } catch (err) {
      logger.warn({ err }, 'LISTEN failed; polling only');
    }
  }
  const stopReaper = startReaper(sql, settings.REAP_INTERVAL_MS, settings.WORKER_ID, logger, loop.wake);
  const stopRetention = startRetention(
    sql,
    {
      retentionMs: settings.OUTBOX_RETENTION,
      intervalMs: settings.OUTBOX_RETENTION_INTERVAL_MS,
      batchSize: settings.OUTBOX_RETENTION_BATCH,
      holder: settings.WORKER_ID,
    },
    logger,
  );
  const stopStats = metrics ? startOutboxStats(sql, settings.OUTBOX_STATS_INTERVAL_MS, job.filter, metrics.reportBacklog, logger) : null;
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
