import type { Sql } from '../../../shared/db/client';
import type { ClaimOptions } from './claim';

/** The same type filter a worker kind claims with. */
export type TypeFilter = Pick<ClaimOptions, 'includeTypePrefix' | 'excludeTypePrefix'>;

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
  const include = filter.includeTypePrefix ?? null;
  const exclude = filter.excludeTypePrefix ?? null;
  const matches = sql`
    status = 'pending'
    AND (${include}::text IS NULL OR left(type, length(${include}::text)) = ${include}::text)
    AND (${exclude}::text IS NULL OR left(type, length(${exclude}::text)) <> ${exclude}::text)`;
  const [row] = await sql<{ pending: number; lag_seconds: number | null }[]>`
    SELECT
      (SELECT count(*) FROM outbox WHERE ${matches})::int AS pending,
      (SELECT greatest(0, extract(epoch FROM now() - created_at))::float8 FROM outbox WHERE ${matches} ORDER BY id LIMIT 1) AS lag_seconds`;
  return { pending: row?.pending ?? 0, lagSeconds: row?.lag_seconds ?? 0 };
}
