import type { Sql } from '../../shared/db/client';

/** Whether `messageId` is a message of the room that has not been deleted (what a reply may refer to). */
export async function isMessageOf(sql: Sql, roomId: string, messageId: number): Promise<boolean> {
  const rows = await sql`SELECT 1 FROM arcyou_chat_messages WHERE id = ${messageId} AND room_id = ${roomId} AND deleted_at IS NULL`;
  return rows.length > 0;
}
