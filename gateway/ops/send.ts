import { ProtocolError } from '../../shared/protocol/errors';
import type { ClientId, Request } from '../frames';
import { idsExhausted } from '../sql/insert-messages';
import { isMessageOf } from '../sql/message-of';
import type { Session } from '../session';
import type { OpContext, Reply } from './context';

export async function send(ctx: OpContext, session: Session, request: Extract<Request, { op: 'send' }>, tempId: ClientId | undefined): Promise<Reply> {
  const { roomId, content, type, replyTo } = request;
  if (!session.rooms.has(roomId)) return { op: 'send', success: false, error: ProtocolError.notJoined, room_id: roomId };
  if (replyTo !== null && !(await isMessageOf(ctx.sql, roomId, replyTo))) {
    return { op: 'send', success: false, error: ProtocolError.invalidRequest, detail: 'reply_to_message_id is not a message of this room', room_id: roomId };
  }
  let stored;
  try {
    stored = await ctx.sends.send(
      {
        roomId,
        userId: session.userId!,
        content,
        type,
        replyToMessageId: replyTo,
        extra: tempId === undefined ? {} : { temp_id: tempId },
        // temp_id makes the send idempotent (a retry returns the first message); JSON keeps 1 and "1" apart.
        clientKey: tempId === undefined ? null : `temp_id:${JSON.stringify(tempId)}`,
      },
      session,
    );
  } catch (err) {
    if (!idsExhausted(err)) throw err;
    ctx.logger.error({ err }, 'message ids are exhausted (2^53 − 1): no message can be stored');
    return { op: 'send', success: false, error: ProtocolError.unavailable, detail: 'message ids exhausted', room_id: roomId };
  }
  if (stored === null) return { op: 'send', success: false, error: ProtocolError.notAMember, room_id: roomId };
  return { op: 'send', success: true, message_id: stored.id, seq: stored.seq };
}
