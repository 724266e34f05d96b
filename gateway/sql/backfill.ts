import type { Sql } from '../../shared/db/client';
import type { ChatMessage } from '../../shared/protocol/events';

export interface Backfill {
  messages: ChatMessage[];
  /** Newest backfilled message whose outbox row was not yet published: it will also come live. */
  unpublishedUpTo: number | null;
}

/** Up to `limit` messages of the room after `afterId`, oldest first, from one snapshot. */
export async function loadBackfill(sql: Sql, roomId: string, afterId: number, limit: number): Promise<Backfill> {
  if (limit === 0) return { messages: [], unpublishedUpTo: null };
  const rows = await sql<{ message: ChatMessage; unpublished_up_to: number | null }[]>`
    WITH backfill AS (
      SELECT id, jsonb_build_object('id', id, 'user_id', user_id, 'content', content, 'created_at', created_at) AS message
      FROM arcyou_chat_messages
      WHERE room_id = ${roomId} AND id > ${afterId} AND deleted_at IS NULL
      ORDER BY id
      LIMIT ${limit}
    )
    SELECT message,
      (SELECT max((o.payload->>'id')::bigint) FROM outbox o
       WHERE o.room_id = ${roomId} AND o.type = 'message.created' AND o.status IN ('pending', 'in_progress')
         AND (o.payload->>'id')::bigint > ${afterId}
         AND (o.payload->>'id')::bigint <= (SELECT max(id) FROM backfill)) AS unpublished_up_to
    FROM backfill
    ORDER BY id`;
  return { messages: rows.map((row) => row.message), unpublishedUpTo: rows[0]?.unpublished_up_to ?? null };
}
