import type { Sql } from '../../shared/db/client';

/**
 * Writes `count` messages to a room the way the send op does (message rows with the next
 * seqs + pending outbox rows + the room's last_seq and last_message_id), in one
 * transaction holding the room lock: a backlog for the workers.
 */
export async function insertBacklog(sql: Sql, roomId: string, userId: string, count: number): Promise<number[]> {
  return sql.begin(async (tx) => {
    const [room] = await tx<{ last_seq: number }[]>`SELECT last_seq FROM arcyou_chat_rooms WHERE id = ${roomId} FOR UPDATE`;
    const rows = await tx<{ id: number }[]>`
      WITH message AS (
        INSERT INTO arcyou_chat_messages (room_id, seq, user_id, content)
        SELECT ${roomId}, ${room!.last_seq} + n, ${userId}, jsonb_build_object('n', n) FROM generate_series(1, ${count}) AS n
        RETURNING id, room_id, seq, user_id, content, created_at
      ), queued AS (
        INSERT INTO outbox (type, room_id, payload)
        SELECT 'message.created', room_id, jsonb_build_object('id', id, 'seq', seq, 'user_id', user_id, 'content', content, 'created_at', created_at)
        FROM message ORDER BY id
      )
      SELECT id FROM message ORDER BY id`;
    await tx`UPDATE arcyou_chat_rooms SET last_seq = last_seq + ${count}, last_message_id = ${rows.at(-1)!.id} WHERE id = ${roomId}`;
    return rows.map((r) => r.id);
  });
}

/** Asserts-friendly summary of what one client received in a room. */
export function receivedIds(events: Array<{ message?: { id?: number } }>): { ids: number[]; duplicates: number; outOfOrder: number } {
  const ids = events.map((e) => e.message!.id!);
  let outOfOrder = 0;
  for (let i = 1; i < ids.length; i++) if (ids[i]! <= ids[i - 1]!) outOfOrder++;
  return { ids, duplicates: ids.length - new Set(ids).size, outOfOrder };
}
