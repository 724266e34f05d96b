import type { Sql } from '../../../shared/db/client';

/**
 * Deletes up to `limit` send idempotency keys older than `olderThanMs`, oldest first,
 * skipping keys another sweeper has locked. A retry with an expired key stores a new message.
 * Returns how many went.
 */
export async function deleteExpiredMessageKeysBatch(sql: Sql, olderThanMs: number, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM arcyou_chat_message_keys
    WHERE ctid IN (
      SELECT ctid FROM arcyou_chat_message_keys
      WHERE created_at < now() - make_interval(secs => ${olderThanMs / 1000})
      ORDER BY created_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )`;
  return result.count;
}
