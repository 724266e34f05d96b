import type { Session, Socket } from '../session';
import { advanceReadPosition } from '../sql/advance-read';
import { readReceipt } from './ephemeral';
import { NOT_A_MEMBER, NOT_JOINED, type OpContext, type Reply } from './context';

export async function ack(ctx: OpContext, ws: Socket, session: Session, roomId: string, messageId: number): Promise<Reply> {
  if (!session.rooms.has(roomId)) return { op: 'ack', success: false, error: NOT_JOINED, room_id: roomId };
  const stored = await advanceReadPosition(ctx.sql, roomId, session.userId!, messageId);
  if (stored === null) return { op: 'ack', success: false, error: NOT_A_MEMBER, room_id: roomId };
  readReceipt(ctx, ws, session, roomId, stored);
  return { op: 'ack', success: true, room_id: roomId, last_read_message_id: stored };
}
