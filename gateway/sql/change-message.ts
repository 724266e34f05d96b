// Edits and deletes of stored messages. Each runs in one transaction that takes the room's
// row lock first, so its event (message.updated / message.deleted) gets an exact place in
// the room (`seq`: after the room's last message) and the room's later messages queue behind
// it for the workers (see gateway/sql/insert-messages.ts). A refused change writes nothing.
import type { TransactionSql } from 'postgres';
import type { Sql } from '../../shared/db/client';
import { messageJson } from './message-json';
import { queueRoomEvent } from './room-event';

type Tx = TransactionSql<{}>;

export type ChangeRefusal = 'not_member' | 'not_found' | 'not_allowed';

interface Target {
  role: 'owner' | 'manager' | 'participant';
  author: string | null;
}

/** Locks the room, then the message; a deleted message is not found. */
async function lockTarget(tx: Tx, roomId: string, userId: string, messageId: number): Promise<Target | 'not_member' | 'not_found'> {
  const [member] = await tx<
    { role: Target['role'] }[]
  >`SELECT role FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${userId} AND deleted_at IS NULL`;
  if (!member) return 'not_member';
  await tx`SELECT 1 FROM arcyou_chat_rooms WHERE id = ${roomId} FOR UPDATE`;
  // Read after the room lock: the statement's snapshot sees every change committed before it.
  const [message] = await tx<{ user_id: string }[]>`
    SELECT user_id FROM arcyou_chat_messages WHERE id = ${messageId} AND room_id = ${roomId} AND deleted_at IS NULL FOR UPDATE`;
  if (!message) return 'not_found';
  return { role: member.role, author: message.user_id };
}

/** The author edits its message's content; members get `message.updated` with the new message. */
export async function editMessage(
  sql: Sql,
  roomId: string,
  userId: string,
  messageId: number,
  content: Record<string, unknown>,
): Promise<{ message: Record<string, unknown> } | ChangeRefusal> {
  return sql.begin(async (tx) => {
    const target = await lockTarget(tx, roomId, userId, messageId);
    if (typeof target === 'string') return target;
    if (target.author !== userId) return 'not_allowed';
    const [message] = await tx<{ message: Record<string, unknown> }[]>`
      UPDATE arcyou_chat_messages SET content = ${sql.json(content as never)}, updated_at = now() WHERE id = ${messageId}
      RETURNING ${messageJson(sql)} || jsonb_build_object('updated_at', updated_at) AS message`;
    await queueRoomEvent(tx, roomId, 'message.updated', { message: message!.message });
    return { message: message!.message };
  }) as Promise<{ message: Record<string, unknown> } | ChangeRefusal>;
}

/**
 * Deletes a message — its author, or an owner or manager of the room. Its content is gone
 * (history and backfill leave it out); members get `message.deleted` {message_id, message_seq}.
 */
export async function deleteMessage(sql: Sql, roomId: string, userId: string, messageId: number): Promise<{ seq: number } | ChangeRefusal> {
  return sql.begin(async (tx) => {
    const target = await lockTarget(tx, roomId, userId, messageId);
    if (typeof target === 'string') return target;
    if (target.author !== userId && target.role === 'participant') return 'not_allowed';
    const [row] = await tx<{ seq: number }[]>`
      UPDATE arcyou_chat_messages SET content = '{}'::jsonb, status = 'deleted', deleted_at = now(), updated_at = now() WHERE id = ${messageId}
      RETURNING seq`;
    await queueRoomEvent(tx, roomId, 'message.deleted', { message_id: messageId, message_seq: row!.seq });
    return { seq: row!.seq };
  }) as Promise<{ seq: number } | ChangeRefusal>;
}
