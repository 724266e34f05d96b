import type { Sql } from '../../shared/db/client';
import type { ChatMessage } from '../../shared/protocol/events';

/** Up to `limit` messages of the room after `afterId`, oldest first. */
export async function messagesAfter(sql: Sql, roomId: string, afterId: number, limit: number): Promise<ChatMessage[]> {
  if (limit === 0) return [];
  const rows = await sql<{ message: ChatMessage }[]>`
    SELECT jsonb_build_object('id', id, 'user_id', user_id, 'content', content, 'created_at', created_at) AS message
    FROM arcyou_chat_messages
    WHERE room_id = ${roomId} AND id > ${afterId} AND deleted_at IS NULL
    ORDER BY id
    LIMIT ${limit}`;
  return rows.map((row) => row.message);
}
