// Cleaner: published outbox rows older than the retention are deleted, a batch per
// statement so no sweep holds many locks or one long transaction.
import type { Sql } from '../../shared/db/client';
import type { Logger } from '../../shared/logger';
import { deletePublishedBatch } from '../sql/delete-published';
import { startPeriodic } from './periodic';

export interface RetentionOptions {
  /** Published rows older than this go. */
  retentionMs: number;
  /** Rows per DELETE statement. */
  batchSize: number;
}

/** Deletes every expired published row, batch after batch; returns how many. `shouldStop` ends it between batches. */
export async function sweepPublished(sql: Sql, options: RetentionOptions, shouldStop: () => boolean = () => false): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deletePublishedBatch(sql, options.retentionMs, options.batchSize);
    total += deleted;
    if (deleted < options.batchSize || shouldStop()) return total;
  }
}

export function startRetention(sql: Sql, options: RetentionOptions & { intervalMs: number }, logger: Logger): () => Promise<void> {
  let stopping = false;
  const stop = startPeriodic('retention', options.intervalMs, async () => {
    const deleted = await sweepPublished(sql, options, () => stopping);
    if (deleted > 0) logger.info({ deleted, retentionMs: options.retentionMs }, 'deleted expired published outbox rows');
  }, logger);
  return async () => {
    stopping = true;
    await stop();
  };
}
