// One chat worker: the outbox loop with the chat publisher, woken by NOTIFY, plus the reaper
// and the retention sweep (and, given metrics, the backlog measurement).
import type { Bus } from '../shared/bus/bus';
import type { PubsubMode } from '../shared/bus/channels';
import type { Sql } from '../shared/db/client';
import type { Logger } from '../shared/logger';
import { CHAT_EXCLUDED_PREFIX, createChatPublisher } from './chat-publisher';
import { startOutboxStats } from './maintenance/outbox-stats';
import { startReaper } from './maintenance/reaper';
import { startRetention } from './maintenance/retention';
import { listenForOutbox } from './notify';
import type { OutboxWorkerMetrics } from './metrics';
import { startOutboxLoop, type OutboxLoopOptions } from './outbox-loop';

export interface ChatWorkerSettings {
  WORKER_ID: string;
  BATCH_SIZE: number;
  LOCK_SECONDS: number;
  POLL_INTERVAL_MS: number;
  MAX_ATTEMPTS: number;
  BACKOFF_BASE_MS: number;
  BACKOFF_CAP_MS: number;
  REAP_INTERVAL_MS: number;
  OUTBOX_RETENTION: number;
  OUTBOX_RETENTION_INTERVAL_MS: number;
  OUTBOX_RETENTION_BATCH: number;
  OUTBOX_STATS_INTERVAL_MS: number;
  PUBSUB_MODE: PubsubMode;
}

export interface ChatWorkerDeps {
  sql: Sql;
  /** A connection that can LISTEN (not through PgBouncer); null = polling only. */
  listenSql: Sql | null;
  bus: Bus;
  logger: Logger;
  onSettled?: OutboxLoopOptions['onSettled'];
  /** Counted into (worker/metrics.ts `createOutboxWorkerMetrics(registry, 'chat')`); none = no metrics. */
  metrics?: OutboxWorkerMetrics;
}

export async function startChatWorker(settings: ChatWorkerSettings, deps: ChatWorkerDeps): Promise<{ stop(): Promise<void> }> {
  // After a failed publish, claim again only once the bus answers a ping: a Redis outage
  // must not use up the rows' attempts and dead-letter them.
  let busSuspect = false;
  const publish = createChatPublisher(deps.bus, settings.PUBSUB_MODE);
  const loop = startOutboxLoop({
    sql: deps.sql,
    logger: deps.logger,
    workerId: settings.WORKER_ID,
    batchSize: settings.BATCH_SIZE,
    lockSeconds: settings.LOCK_SECONDS,
    excludeTypePrefix: CHAT_EXCLUDED_PREFIX,
    pollIntervalMs: settings.POLL_INTERVAL_MS,
    maxAttempts: settings.MAX_ATTEMPTS,
    backoffBaseMs: settings.BACKOFF_BASE_MS,
    backoffCapMs: settings.BACKOFF_CAP_MS,
    process: async (rows) => {
      const outcomes = await publish(rows);
      if (outcomes.some((o) => o && !o.dead)) busSuspect = true;
      return outcomes;
    },
    ready: async () => {
      if (!busSuspect) return true;
      busSuspect = !(await deps.bus.ping().then(() => true, () => false));
      return !busSuspect;
    },
    onSettled: (row, outcome) => {
      deps.metrics?.onSettled(row, outcome);
      deps.onSettled?.(row, outcome);
    },
    onTimed: deps.metrics?.onTimed,
  });
  let unlisten: (() => Promise<void>) | null = null;
  if (deps.listenSql) {
    try {
      unlisten = await listenForOutbox(deps.listenSql, loop.wake, deps.logger);
    } catch (err) {
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'LISTEN failed; polling only');
    }
  }
  const stopReaper = startReaper(deps.sql, settings.REAP_INTERVAL_MS, deps.logger, loop.wake);
  const stopRetention = startRetention(deps.sql, { retentionMs: settings.OUTBOX_RETENTION, intervalMs: settings.OUTBOX_RETENTION_INTERVAL_MS, batchSize: settings.OUTBOX_RETENTION_BATCH }, deps.logger);
  const metrics = deps.metrics;
  const stopStats = metrics
    ? startOutboxStats(deps.sql, settings.OUTBOX_STATS_INTERVAL_MS, { excludeTypePrefix: CHAT_EXCLUDED_PREFIX }, metrics.reportBacklog, deps.logger)
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
