import type { Sql } from '../../../shared/db/client';

/**
 * Deletes up to `limit` published rows published more than `olderThanMs` ago, oldest
 * first, skipping rows another sweeper has locked. Returns how many went.
 */
export async function deletePublishedBatch(sql: Sql, olderThanMs: number, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM outbox
    WHERE id IN (
      SELECT id FROM outbox
      WHERE status = 'published' AND published_at < now() - make_interval(secs => ${olderThanMs / 1000})
      ORDER BY published_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )`;
  return result.count;
}
