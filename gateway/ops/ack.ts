import { ProtocolError } from '../../shared/protocol/errors';
import type { Session, Socket } from '../session';
import { advanceReadPosition } from '../sql/advance-read';
import { readReceipt } from './ephemeral';
import type { OpContext, Reply } from './context';

export async function ack(ctx: OpContext, ws: Socket, session: Session, roomId: string, messageId: number): Promise<Reply> {
  if (!session.rooms.has(roomId)) return { op: 'ack', success: false, error: ProtocolError.notJoined, room_id: roomId };
  const stored = await advanceReadPosition(ctx.sql, roomId, session.userId!, messageId);
  if (stored === null) return { op: 'ack', success: false, error: ProtocolError.notAMember, room_id: roomId };
  readReceipt(ctx, ws, session, roomId, stored);
  return { op: 'ack', success: true, room_id: roomId, last_read_message_id: stored };
}
