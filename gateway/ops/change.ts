import { ProtocolError } from '../../shared/protocol/errors';
import type { Session } from '../session';
import { deleteMessage, editMessage, type ChangeRefusal } from '../sql/change-message';
import type { OpContext, Reply } from './context';

const REFUSAL: Record<ChangeRefusal, ProtocolError> = {
  not_member: ProtocolError.notAMember,
  not_found: ProtocolError.notFound,
  not_allowed: ProtocolError.notAllowed,
};

/** `edit`: the author replaces its message's content. */
export async function edit(ctx: OpContext, session: Session, roomId: string, messageId: number, content: Record<string, unknown>): Promise<Reply> {
  if (!session.rooms.has(roomId)) return { op: 'edit', success: false, error: ProtocolError.notJoined, room_id: roomId };
  const result = await editMessage(ctx.sql, roomId, session.userId!, messageId, content);
  if (typeof result === 'string') return { op: 'edit', success: false, error: REFUSAL[result], room_id: roomId, message_id: messageId };
  return { op: 'edit', success: true, room_id: roomId, message: result.message };
}

/** `delete`: the author, or an owner or manager of the room, deletes a message. */
export async function remove(ctx: OpContext, session: Session, roomId: string, messageId: number): Promise<Reply> {
  if (!session.rooms.has(roomId)) return { op: 'delete', success: false, error: ProtocolError.notJoined, room_id: roomId };
  const result = await deleteMessage(ctx.sql, roomId, session.userId!, messageId);
  if (typeof result === 'string') return { op: 'delete', success: false, error: REFUSAL[result], room_id: roomId, message_id: messageId };
  return { op: 'delete', success: true, room_id: roomId, message_id: messageId };
}
