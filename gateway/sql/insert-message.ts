import type { Sql } from '../../shared/db/client';
import { OUTBOX_CHANNEL } from '../../shared/outbox/notify-channel';
import type { ClientId } from '../frames';
import { messageJson } from './message-json';

export interface StoredMessage {
  id: number;
  seq: number;
}

/**
 * Stores a message, its outbox row (pending) and the room's position in one statement,
 * so one transaction. Returns the new message's id and seq, or null when the user is not
 * an active member of the room (nothing is written then).
 *
 * The room row is updated first: that takes its lock, and the message's seq (last_seq + 1)
 * and id are drawn under it — on a wait for the lock PostgreSQL re-evaluates the SET
 * against the committed row — so a room's seqs and ids both follow commit order.
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
): Promise<StoredMessage | null> {
  const extra = tempId === undefined ? {} : { temp_id: tempId };
  const [row] = await sql<StoredMessage[]>`
    WITH room AS (
      UPDATE arcyou_chat_rooms r
      SET last_seq = r.last_seq + 1, last_message_id = nextval('arcyou_chat_messages_id_seq'), updated_at = now()
      WHERE r.id = ${roomId}
        AND EXISTS (SELECT 1 FROM arcyou_chat_members mb WHERE mb.room_id = r.id AND mb.user_id = ${userId} AND mb.deleted_at IS NULL)
      RETURNING r.id, r.last_seq, r.last_message_id
    ), message AS (
      INSERT INTO arcyou_chat_messages (id, room_id, seq, user_id, content)
      SELECT last_message_id, id, last_seq, ${userId}, ${sql.json(content as never)} FROM room
      RETURNING id, room_id, seq, user_id, content, created_at
    ), queued AS (
      INSERT INTO outbox (type, room_id, payload)
      SELECT 'message.created', room_id, ${messageJson(sql)} || ${sql.json(extra)}
      FROM message
    ), woken AS (
      SELECT pg_notify(${OUTBOX_CHANNEL}, '') FROM message WHERE ${notify}::boolean
    )
    SELECT id, seq, (SELECT count(*) FROM woken) AS notified FROM message`;
  return row ? { id: row.id, seq: row.seq } : null;
}
