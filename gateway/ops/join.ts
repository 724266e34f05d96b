// join: membership check, then backfill (messages after the member's read position,
// oldest first), then live events through the room's uWS topic.
import { serializeMessageEvent } from '../../shared/protocol/events';
import type { JoinTicket } from '../fanout';
import type { RequestIds } from '../frames';
import type { Session, Socket } from '../session';
import { messagesAfter } from '../sql/backfill';
import { findMembership } from '../sql/membership';
import { NOT_A_MEMBER, withIds, type OpContext, type Reply } from './context';

/** Returns an error reply, or null when the join reply and backfill were sent. */
export async function join(ctx: OpContext, ws: Socket, session: Session, roomId: string, ids: RequestIds): Promise<Reply | null> {
  const userId = session.userId!;
  const membership = await findMembership(ctx.sql, roomId, userId);
  if (!membership) return { op: 'join', success: false, error: NOT_A_MEMBER, room_id: roomId };

  if (session.rooms.delete(roomId)) {
    // Joining again (e.g. to page through a long backlog): start over from the read position.
    ws.unsubscribe(roomId);
    ctx.fanout.release(roomId);
  }

  let ticket: JoinTicket;
  try {
    ticket = await ctx.fanout.beginJoin(roomId);
  } catch (err) {
    ctx.logger.warn({ roomId, err: (err as Error).message }, 'join: bus subscription failed');
    return { op: 'join', success: false, error: 'unavailable', room_id: roomId };
  }

  let backfill;
  try {
    backfill = await messagesAfter(ctx.sql, roomId, membership.lastReadMessageId ?? 0, ctx.backfillLimit);
  } catch (err) {
    ticket.finish(0);
    ctx.fanout.release(roomId);
    throw err;
  }

  // From here on everything is synchronous: no event can slip between the backfill,
  // the events held during the query, and the topic subscription.
  const lastSent = backfill.at(-1)?.id ?? membership.lastReadMessageId ?? 0;
  const held = ticket.finish(lastSent);
  if (session.closed) {
    ctx.fanout.release(roomId);
    return null;
  }
  ws.subscribe(roomId);
  session.rooms.add(roomId);
  const reply = JSON.stringify(withIds({ op: 'join', success: true, room_id: roomId }, ids));
  const frames = [reply, ...backfill.map((message) => serializeMessageEvent(roomId, message, 'backfill')), ...held];
  ctx.send(ws, frames);
  return null;
}
