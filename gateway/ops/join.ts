// join: membership check, then backfill (messages after the member's read position,
// oldest first), then live events (see fanout.ts for how the two meet without gaps).
import { serializeMessageEvent } from '../../shared/protocol/events';
import type { JoinTicket } from '../fanout';
import type { RequestIds } from '../frames';
import type { Session, Socket } from '../session';
import { loadBackfill } from '../sql/backfill';
import { findMembership } from '../sql/membership';
import { NOT_A_MEMBER, withIds, type OpContext, type Reply } from './context';

/** Returns an error reply, or null when the join reply and backfill were sent. */
export async function join(ctx: OpContext, ws: Socket, session: Session, roomId: string, ids: RequestIds): Promise<Reply | null> {
  const userId = session.userId!;
  const membership = await findMembership(ctx.sql, roomId, userId);
  if (!membership) return { op: 'join', success: false, error: NOT_A_MEMBER, room_id: roomId };

  // Joining again (e.g. to page through a long backlog) starts over from the read position.
  ctx.fanout.leave(ws, roomId);

  let ticket: JoinTicket;
  try {
    ticket = await ctx.fanout.beginJoin(roomId);
  } catch (err) {
    ctx.logger.warn({ roomId, err: (err as Error).message }, 'join: bus subscription failed');
    return { op: 'join', success: false, error: 'unavailable', room_id: roomId };
  }

  const afterId = membership.lastReadMessageId ?? 0;
  let backfill;
  try {
    backfill = await loadBackfill(ctx.sql, roomId, userId, afterId, ctx.backfillLimit);
  } catch (err) {
    ticket.cancel();
    throw err;
  }
  if (session.closed || !backfill.member) {
    ticket.cancel();
    return session.closed ? null : { op: 'join', success: false, error: NOT_A_MEMBER, room_id: roomId };
  }

  // Synchronous from here: nothing can come between the backfill and the live events.
  const lastSent = backfill.messages.at(-1)?.id ?? afterId;
  const held = ticket.ready(ws, lastSent, backfill.unpublishedUpTo);
  session.rooms.add(roomId);
  const reply = JSON.stringify(withIds({ op: 'join', success: true, room_id: roomId }, ids));
  ctx.send(ws, [reply, ...backfill.messages.map((message) => serializeMessageEvent(roomId, message, 'backfill')), ...held]);
  return null;
}
