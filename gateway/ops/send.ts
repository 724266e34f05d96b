import type { ClientId } from '../frames';
import type { Session } from '../session';
import { insertMessage } from '../sql/insert-message';
import { NOT_A_MEMBER, NOT_JOINED, type OpContext, type Reply } from './context';

export async function send(ctx: OpContext, session: Session, roomId: string, content: Record<string, unknown>, tempId: ClientId | undefined): Promise<Reply> {
  if (!session.rooms.has(roomId)) return { op: 'send', success: false, error: NOT_JOINED, room_id: roomId };
  const notify = ctx.outboxWaker.notifyInline();
  const messageId = await insertMessage(ctx.sql, roomId, session.userId!, content, tempId, notify);
  if (messageId === null) return { op: 'send', success: false, error: NOT_A_MEMBER, room_id: roomId };
  if (!notify) ctx.outboxWaker.committedWithoutNotify();
  return { op: 'send', success: true, message_id: messageId };
}
