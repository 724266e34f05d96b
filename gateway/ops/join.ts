// join: membership check and the room's position, then the backfill (after `after_seq`,
// or after the member's read position), then live events. How the two meet with no gap
// and no duplicate is the room's business: gateway/delivery/room.ts.
import { ProtocolError } from '../../shared/protocol/errors';
import type { RequestIds } from '../frames';
import type { Session, Socket } from '../session';
import { loadJoinSnapshot } from '../sql/join-snapshot';
import { withIds, type OpContext, type Reply } from './context';

/** Returns an error reply, or null when the join reply went out (the backfill follows it). */
export async function join(ctx: OpContext, ws: Socket, session: Session, roomId: string, afterSeq: number | null, ids: RequestIds): Promise<Reply | null> {
  const userId = session.userId!;
  // Joining again (e.g. to resume after a gap notice) starts over.
  ctx.fanout.leave(ws, roomId);
  session.rooms.delete(roomId);

  let joining;
  try {
    joining = await ctx.fanout.beginJoin(ws, roomId, userId);
  } catch (err) {
    ctx.logger.warn({ roomId, err }, 'join: bus subscription failed');
    return { op: 'join', success: false, error: ProtocolError.unavailable, room_id: roomId };
  }
  let snapshot;
  try {
    snapshot = await loadJoinSnapshot(ctx.sql, roomId, userId, afterSeq, ctx.backfillLimit, ctx.pageSize);
  } catch (err) {
    joining.cancel();
    throw err;
  }
  if (session.closed || !snapshot) {
    joining.cancel();
    return session.closed ? null : { op: 'join', success: false, error: ProtocolError.notAMember, room_id: roomId };
  }

  const backfillEnd = Math.min(snapshot.lastSeq, snapshot.startAfter + ctx.backfillLimit);
  const reply = JSON.stringify(
    withIds(
      {
        op: 'join',
        success: true,
        room_id: roomId,
        after_seq: snapshot.startAfter,
        last_seq: snapshot.lastSeq,
        has_more: backfillEnd < snapshot.lastSeq,
        membership_id: snapshot.membershipId,
      },
      ids,
    ),
  );
  session.rooms.set(roomId, snapshot.membershipId);
  if (!joining.open({ ...snapshot, backfillEnd, reply })) {
    session.rooms.delete(roomId);
    return { op: 'join', success: false, error: ProtocolError.notAMember, room_id: roomId };
  }
  return null;
}
