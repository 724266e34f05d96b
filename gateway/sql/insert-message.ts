import type { Sql } from '../../shared/db/client';
import { OUTBOX_CHANNEL } from '../../shared/outbox/notify-channel';
import type { ClientId } from '../frames';
import { messageJson } from './message-json';

/**
 * Stores a message, its outbox row (pending) and the room's last_message_id in one
 * statement, so one transaction. Returns the new message id, or null when the user is
 * not an active member of the room (nothing is written then).
 *
 * The room row is locked first, so concurrent sends to one room take ids in commit
 * order: the outbox then publishes a room's messages in the order they were stored.
 * The payload is built like the backfill query's, so live and backfill events match.
 * With `notify`, the transaction also wakes the outbox workers (see gateway/outbox-waker.ts).
 */
export async function insertMessage(
  sql: Sql,
  roomId: string,
  userId: string,
  content: Record<string, unknown>,
  tempId: ClientId | undefined,
  notify: boolean,
): Promise<number | null> {
  const extra = tempId === undefined ? {} : { temp_id: tempId };
  const [row] = await sql<{ id: number }[]>`
    WITH room AS (
      SELECT r.id FROM arcyou_chat_rooms r
      JOIN arcyou_chat_members mb ON mb.room_id = r.id AND mb.user_id = ${userId} AND mb.deleted_at IS NULL
      WHERE r.id = ${roomId}
      FOR UPDATE OF r
    ), message AS (
      INSERT INTO arcyou_chat_messages (room_id, user_id, content)
      SELECT id, ${userId}, ${sql.json(content as never)} FROM room
      RETURNING id, room_id, user_id, content, created_at
    ), queued AS (
      INSERT INTO outbox (type, room_id, payload)
      SELECT 'message.created', room_id,
             ${messageJson(sql)} || ${sql.json(extra)}
      FROM message
    ), room_update AS (
      UPDATE arcyou_chat_rooms r SET last_message_id = message.id, updated_at = now()
      FROM message WHERE r.id = message.room_id
    ), woken AS (
      SELECT pg_notify(${OUTBOX_CHANNEL}, '') FROM message WHERE ${notify}::boolean
    )
    SELECT id, (SELECT count(*) FROM woken) AS notified FROM message`;
  return row?.id ?? null;
}
