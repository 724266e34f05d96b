import type { Session } from '../session';
import { deleteMessage, editMessage, type ChangeRefusal } from '../sql/change-message';
import { NOT_A_MEMBER, NOT_ALLOWED, NOT_JOINED, NOT_FOUND, type OpContext, type Reply } from './context';

const REFUSAL: Record<ChangeRefusal, string> = { not_member: NOT_A_MEMBER, not_found: NOT_FOUND, not_allowed: NOT_ALLOWED };

/** `edit`: the author replaces its message's content. */
export async function edit(ctx: OpContext, session: Session, roomId: string, messageId: number, content: Record<string, unknown>): Promise<Reply> {
  if (!session.rooms.has(roomId)) return { op: 'edit', success: false, error: NOT_JOINED, room_id: roomId };
  const result = await editMessage(ctx.sql, roomId, session.userId!, messageId, content);
  if (typeof result === 'string') return { op: 'edit', success: false, error: REFUSAL[result], room_id: roomId, message_id: messageId };
  return { op: 'edit', success: true, room_id: roomId, message: result.message };
}

/** `delete`: the author, or an owner or manager of the room, deletes a message. */
export async function remove(ctx: OpContext, session: Session, roomId: string, messageId: number): Promise<Reply> {
  if (!session.rooms.has(roomId)) return { op: 'delete', success: false, error: NOT_JOINED, room_id: roomId };
  const result = await deleteMessage(ctx.sql, roomId, session.userId!, messageId);
  if (typeof result === 'string') return { op: 'delete', success: false, error: REFUSAL[result], room_id: roomId, message_id: messageId };
  return { op: 'delete', success: true, room_id: roomId, message_id: messageId };
}
