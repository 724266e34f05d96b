// Cleaners: published outbox rows, and (chat workers) send idempotency keys, older than
// their retention are deleted, a batch per statement so no sweep holds many locks or one
// long transaction.
import type { Sql } from '../../../shared/db/client';
import type { Logger } from '../../../shared/logger';
import { deleteExpiredMessageKeysBatch } from '../sql/delete-expired-message-keys';
import { deletePublishedBatch } from '../sql/delete-published';
import { startMaintenance } from './periodic';

export interface RetentionOptions {
  /** Published rows older than this go. */
  retentionMs: number;
  /** Rows per DELETE statement. */
  batchSize: number;
}

/** Deletes up to `limit` rows older than `olderThanMs`; returns how many. */
type DeleteBatch = (sql: Sql, olderThanMs: number, limit: number) => Promise<number>;

/** Deletes every expired row, batch after batch; returns how many. `shouldStop` ends it between batches. */
async function sweep(sql: Sql, deleteBatch: DeleteBatch, options: RetentionOptions, shouldStop: () => boolean): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteBatch(sql, options.retentionMs, options.batchSize);
    total += deleted;
    if (deleted < options.batchSize || shouldStop()) return total;
  }
}

/** Deletes every expired published row, batch after batch; returns how many. */
export function sweepPublished(sql: Sql, options: RetentionOptions, shouldStop: () => boolean = () => false): Promise<number> {
  return sweep(sql, deletePublishedBatch, options, shouldStop);
}

type SweeperOptions = RetentionOptions & { intervalMs: number; holder: string };

/** Runs in one worker at a time (the lease holder, see startMaintenance), with its own OUTBOX_RETENTION. */
export function startRetention(sql: Sql, options: SweeperOptions, logger: Logger): () => Promise<void> {
  return startSweeper(sql, deletePublishedBatch, options, logger, 'outbox-retention', 'expired published outbox rows');
}

/** Send idempotency keys (the WebSocket temp_id, the HTTP Idempotency-Key) past their retention. */
export function startMessageKeyRetention(sql: Sql, options: SweeperOptions, logger: Logger): () => Promise<void> {
  return startSweeper(sql, deleteExpiredMessageKeysBatch, options, logger, 'message-key-retention', 'expired send idempotency keys');
}

function startSweeper(sql: Sql, deleteBatch: DeleteBatch, options: SweeperOptions, logger: Logger, name: string, what: string): () => Promise<void> {
  let stopping = false;
  const stop = startMaintenance(
    name,
    options.intervalMs,
    { sql, holder: options.holder },
    async () => {
      const deleted = await sweep(sql, deleteBatch, options, () => stopping);
      if (deleted > 0) logger.info({ deleted, retentionMs: options.retentionMs }, `deleted ${what}`);
    },
    logger,
  );
  return async () => {
    stopping = true;
    await stop();
  };
}
