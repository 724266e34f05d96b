import type { Sql } from '../../shared/db/client';

/** The member row of an active member (deleted_at unset), or null for anyone else. */
export async function findMembership(sql: Sql, roomId: string, userId: string): Promise<{ lastReadMessageId: number | null } | null> {
  const [row] = await sql<{ last_read_message_id: number | null }[]>`
    SELECT last_read_message_id FROM arcyou_chat_members
    WHERE room_id = ${roomId} AND user_id = ${userId} AND deleted_at IS NULL`;
  return row ? { lastReadMessageId: row.last_read_message_id } : null;
}
