import type { Sql } from '../../shared/db/client';
import { OUTBOX_CHANNEL } from '../../shared/outbox/notify-channel';
import { heldBy } from '../../shared/outbox/held-by';

/**
 * Hands outbox rows this gateway could not publish (the bus failed) to the workers at once,
 * instead of after their lock runs out, and wakes them. Returns how many were handed over.
 */
export async function releaseFastRows(sql: Sql, owner: string, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const rows = await sql`
    WITH released AS (
      UPDATE outbox SET status = 'pending', locked_by = NULL, locked_until = NULL, next_attempt_at = '-infinity'
      WHERE id = ANY(${ids as number[]}::bigint[]) AND ${heldBy(sql, owner)}
      RETURNING id
    )
    SELECT count(*)::int AS released, (SELECT pg_notify(${OUTBOX_CHANNEL}, '') FROM (SELECT 1 FROM released LIMIT 1) any_row) AS notified FROM released`;
  return (rows[0] as { released: number } | undefined)?.released ?? 0;
}
