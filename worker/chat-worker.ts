// One chat worker: the outbox loop with the chat publisher, woken by NOTIFY, plus the reaper.
import type { Bus } from '../shared/bus/bus';
import type { PubsubMode } from '../shared/bus/channels';
import type { Sql } from '../shared/db/client';
import type { Logger } from '../shared/logger';
import { CHAT_EXCLUDED_PREFIX, createChatPublisher } from './chat-publisher';
import { startReaper } from './maintenance/reaper';
import { startRetention } from './maintenance/retention';
import { listenForOutbox } from './notify';
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
  PUBSUB_MODE: PubsubMode;
}

export interface ChatWorkerDeps {
  sql: Sql;
  /** A connection that can LISTEN (not through PgBouncer); null = polling only. */
  listenSql: Sql | null;
  bus: Bus;
  logger: Logger;
  onSettled?: OutboxLoopOptions['onSettled'];
}

export async function startChatWorker(settings: ChatWorkerSettings, deps: ChatWorkerDeps): Promise<{ stop(): Promise<void> }> {
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
    process: createChatPublisher(deps.bus, settings.PUBSUB_MODE),
    onSettled: deps.onSettled,
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
  return {
    async stop() {
      await stopReaper();
      await stopRetention();
      await unlisten?.().catch(() => {});
      await loop.stop();
    },
  };
}
