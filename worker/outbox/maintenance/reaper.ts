// Rescuer for crashed workers: rows stuck in_progress past their lock go back to pending.
import type { Sql } from '../../../shared/db/client';
import type { Logger } from '../../../shared/logger';
import { reapExpiredLocks } from '../sql/reap';
import { startMaintenance } from './periodic';

/** Runs in one worker at a time (the lease holder, see startMaintenance): the rows of every type. */
export function startReaper(sql: Sql, intervalMs: number, holder: string, logger: Logger, onReaped?: () => void): () => Promise<void> {
  return startMaintenance(
    'outbox-reaper',
    intervalMs,
    { sql, holder },
    async () => {
      const count = await reapExpiredLocks(sql);
      if (count > 0) {
        logger.warn({ count }, 'reclaimed outbox rows with expired locks');
        onReaped?.();
      }
    },
    logger,
  );
}
