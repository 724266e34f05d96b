// Rescuer for crashed workers: rows stuck in_progress past their lock go back to pending.
import type { Sql } from '../../shared/db/client';
import type { Logger } from '../../shared/logger';
import { reapExpiredLocks } from '../sql/reap';
import { startPeriodic } from './periodic';

export function startReaper(sql: Sql, intervalMs: number, logger: Logger, onReaped?: () => void): () => Promise<void> {
  return startPeriodic('reaper', intervalMs, async () => {
    const count = await reapExpiredLocks(sql);
    if (count > 0) {
      logger.warn({ count }, 'reclaimed outbox rows with expired locks');
      onReaped?.();
    }
  }, logger);
}
