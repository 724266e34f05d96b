import type { Sql } from '../../../../shared/db/client';

export interface TypeCounts {
  type: string;
  pending: number;
  in_progress: number;
  published: number;
  dead: number;
  /** How long the oldest pending row of this type has waited, in seconds; null when none is pending. */
  oldest_pending_seconds: number | null;
}

/** Rows per type and status, with the age of each type's oldest pending row. */
export async function outboxCounts(sql: Sql): Promise<TypeCounts[]> {
  return sql<TypeCounts[]>`
    SELECT type,
           count(*) FILTER (WHERE status = 'pending')::int     AS pending,
           count(*) FILTER (WHERE status = 'in_progress')::int AS in_progress,
           count(*) FILTER (WHERE status = 'published')::int   AS published,
           count(*) FILTER (WHERE status = 'dead')::int        AS dead,
           extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending'))::float8 AS oldest_pending_seconds
    FROM outbox
    GROUP BY type
    ORDER BY type`;
}
