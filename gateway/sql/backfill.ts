import type { Sql } from '../../shared/db/client';
import type { ChatMessage } from '../../shared/protocol/events';
import { messageJson } from './message-json';

export interface Backfill {
  /** Still an active member when the backfill was read (membership can be revoked meanwhile). */
  member: boolean;
  messages: ChatMessage[];
  /** Newest backfilled message whose outbox row was not yet published: it will also come live. */
  unpublishedUpTo: number | null;
}

/** Up to `limit` messages of the room after `afterId`, oldest first, read from one snapshot. */
export async function loadBackfill(sql: Sql, roomId: string, userId: string, afterId: number, limit: number): Promise<Backfill> {
  const [row] = await sql<{ member: boolean; messages: ChatMessage[]; unpublished_up_to: number | null }[]>`
    WITH backfill AS (
      SELECT id, ${messageJson(sql)} AS message
      FROM arcyou_chat_messages
      WHERE room_id = ${roomId} AND id > ${afterId} AND deleted_at IS NULL
      ORDER BY id
      LIMIT ${limit}
    )
    SELECT
      EXISTS (SELECT 1 FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${userId} AND deleted_at IS NULL) AS member,
      (SELECT coalesce(jsonb_agg(message ORDER BY id), '[]'::jsonb) FROM backfill) AS messages,
      (SELECT max((o.payload->>'id')::bigint) FROM outbox o
       WHERE o.room_id = ${roomId} AND o.type = 'message.created' AND o.status IN ('pending', 'in_progress')
         AND (o.payload->>'id')::bigint > ${afterId}
         AND (o.payload->>'id')::bigint <= (SELECT max(id) FROM backfill)) AS unpublished_up_to`;
  return { member: row!.member, messages: row!.messages, unpublishedUpTo: row!.unpublished_up_to };
}

/** Messages of the room after `afterId`, oldest first: what a gateway missed while its bus was down. */
export async function loadMissedMessages(sql: Sql, roomId: string, afterId: number, limit: number): Promise<ChatMessage[]> {
  const rows = await sql<{ message: ChatMessage }[]>`
    SELECT ${messageJson(sql)} AS message FROM arcyou_chat_messages
    WHERE room_id = ${roomId} AND id > ${afterId} AND deleted_at IS NULL
    ORDER BY id
    LIMIT ${limit}`;
  return rows.map((row) => row.message);
}
