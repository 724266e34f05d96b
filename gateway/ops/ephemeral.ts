// Ephemeral room events — typing and read receipts: never stored, no place among the
// messages, sent to the room's other sockets on every gateway through the bus
// (fanout.publishEphemeral). A client that misses one (a bus drop) gets the next; read
// positions are kept in PostgreSQL and listed by the API.
import { serializeRoomEvent } from '../../shared/protocol/events';
import type { Session, Socket } from '../session';
import { ProtocolError } from '../../shared/protocol/errors';
import type { OpContext, Reply } from './context';

/** One typing event per socket and room per this many ms; more in between are answered but not sent on. */
export const TYPING_INTERVAL_MS = 1000;
/** Read receipts of one socket and room go out at most this often: the latest position, once the interval is over. */
export const RECEIPT_INTERVAL_MS = 500;

export async function typing(ctx: OpContext, ws: Socket, session: Session, roomId: string): Promise<Reply> {
  if (!session.rooms.has(roomId)) return { op: 'typing', success: false, error: ProtocolError.notJoined, room_id: roomId };
  const now = Date.now();
  session.typingAt ??= new Map();
  const last = session.typingAt.get(roomId) ?? -Infinity;
  if (now - last >= TYPING_INTERVAL_MS) {
    session.typingAt.set(roomId, now);
    await ctx.fanout.publishEphemeral(ws, roomId, serializeRoomEvent('typing', roomId, { user_id: session.userId }, null));
  }
  return { op: 'typing', success: true, room_id: roomId };
}

/**
 * After an ack stored a read position: tells the room `member.read` {user_id,
 * last_read_message_id} — at once, or, within RECEIPT_INTERVAL_MS of the last one, once the
 * interval is over, with the latest position then. Positions only move forward.
 */
export function readReceipt(ctx: OpContext, ws: Socket, session: Session, roomId: string, position: number): void {
  session.receipts ??= new Map();
  const state = session.receipts.get(roomId) ?? { sent: 0, sentAt: -Infinity, latest: 0, timer: null };
  session.receipts.set(roomId, state);
  if (position <= Math.max(state.sent, state.latest)) return;
  state.latest = position;
  const emit = () => {
    state.timer = null;
    if (session.closed || !session.rooms.has(roomId) || state.latest <= state.sent) return;
    state.sent = state.latest;
    state.sentAt = Date.now();
    ctx.fanout
      .publishEphemeral(ws, roomId, serializeRoomEvent('member.read', roomId, { user_id: session.userId, last_read_message_id: state.sent }, null))
      .catch((err: unknown) => ctx.logger.warn({ err, roomId }, 'could not send a read receipt'));
  };
  if (state.timer) return;
  const wait = state.sentAt + RECEIPT_INTERVAL_MS - Date.now();
  if (wait <= 0) emit();
  else state.timer = setTimeout(emit, wait);
}
