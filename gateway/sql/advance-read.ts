import type { Sql } from '../../shared/db/client';

/**
 * Moves the member's read position forward to `messageId` — never backwards, and never
 * past the room's last message. Returns the stored position, or null for a non-member.
 */
export async function advanceReadPosition(sql: Sql, roomId: string, userId: string, messageId: number): Promise<number | null> {
  const [row] = await sql<{ last_read_message_id: number }[]>`
    UPDATE arcyou_chat_members mb
    SET last_read_message_id = GREATEST(COALESCE(mb.last_read_message_id, 0), LEAST(${messageId}::bigint, COALESCE(r.last_message_id, 0)))
    FROM arcyou_chat_rooms r
    WHERE mb.room_id = ${roomId} AND mb.user_id = ${userId} AND mb.deleted_at IS NULL AND r.id = mb.room_id
    RETURNING mb.last_read_message_id`;
  return row ? row.last_read_message_id : null;
}
