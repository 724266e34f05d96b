import type { Sql } from '../../../shared/db/client';
import { typeMatches, type TypeFilter } from './type-filter';

export interface OutboxBacklog {
  /** Rows not yet delivered: pending, including those waiting out a retry backoff. */
  pending: number;
  /** How long the oldest of them has waited, in seconds; 0 when there are none. */
  lagSeconds: number;
}

/**
 * The backlog a worker kind faces (same type filter as its claim). Both halves run on
 * the partial index of pending rows: the count without touching the table, the oldest
 * row by id (ids follow commit order closely enough for an age in seconds).
 */
export async function outboxBacklog(sql: Sql, filter: TypeFilter): Promise<OutboxBacklog> {
  const matches = sql`o.status = 'pending' AND ${typeMatches(sql, filter)}`;
  const [row] = await sql<{ pending: number; lag_seconds: number | null }[]>`
    SELECT
      (SELECT count(*) FROM outbox o WHERE ${matches})::int AS pending,
      (SELECT greatest(0, extract(epoch FROM now() - o.created_at))::float8 FROM outbox o WHERE ${matches} ORDER BY o.id LIMIT 1) AS lag_seconds`;
  return { pending: row?.pending ?? 0, lagSeconds: row?.lag_seconds ?? 0 };
}
