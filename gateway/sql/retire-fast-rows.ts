import type { Sql } from '../../shared/db/client';
import { heldBy } from '../../shared/outbox/held-by';

/**
 * Deletes outbox rows this gateway published itself (the fast path) and still holds. A row
 * the reaper already handed to the workers (this gateway was too slow) is left to them: the
 * second copy they publish is dropped by seq. Returns how many went.
 */
export async function retireFastRows(sql: Sql, owner: string, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await sql`DELETE FROM outbox WHERE id = ANY(${ids as number[]}::bigint[]) AND ${heldBy(sql, owner)}`;
  return result.count;
}
