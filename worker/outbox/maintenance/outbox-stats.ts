// Measures the outbox backlog (pending rows, age of the oldest) every interval for the
// metrics, so that a scrape never queries the database and the numbers exist even when
// the worker is too busy or too stuck to move them itself.
import type { Sql } from '../../../shared/db/client';
import type { Logger } from '../../../shared/logger';
import { outboxBacklog, type OutboxBacklog } from '../sql/outbox-backlog';
import type { TypeFilter } from '../sql/type-filter';
import { startPeriodic } from './periodic';

export function startOutboxStats(
  sql: Sql,
  intervalMs: number,
  filter: TypeFilter,
  report: (backlog: OutboxBacklog) => void,
  logger: Logger,
): () => Promise<void> {
  const measure = async () => report(await outboxBacklog(sql, filter));
  const first = measure().catch((err: unknown) => logger.warn({ err }, 'outbox stats failed'));
  const stop = startPeriodic('outbox-stats', intervalMs, measure, logger);
  return async () => {
    await first;
    await stop();
  };
}
