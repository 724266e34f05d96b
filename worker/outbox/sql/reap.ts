import type { Sql } from '../../../shared/db/client';

/**
 * Puts rows whose lock ran out (their worker crashed or hung) back to pending so any
 * worker can take them. Not counted as an attempt: the row itself did not fail.
 */
export async function reapExpiredLocks(sql: Sql, limit = 1000): Promise<number> {
  const result = await sql`
    UPDATE outbox SET status = 'pending', locked_by = NULL, locked_until = NULL, next_attempt_at = '-infinity'
    WHERE id IN (
      SELECT id FROM outbox
      WHERE status = 'in_progress' AND locked_until < now()
      ORDER BY locked_until
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )`;
  return result.count;
}
