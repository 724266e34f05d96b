import type { Sql } from '../../../shared/db/client';
import { heldBy } from '../../../shared/outbox/held-by';

/**
 * Marks rows this worker still holds as published. A row whose lock expired and was
 * taken by another worker is left alone (the guard on locked_by). Returns how many changed.
 */
export async function markPublished(sql: Sql, workerId: string, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await sql`
    UPDATE outbox
    SET status = 'published', published_at = now(), locked_by = NULL, locked_until = NULL, error = NULL
    WHERE id = ANY(${ids as number[]}::bigint[]) AND ${heldBy(sql, workerId)}`;
  return result.count;
}
