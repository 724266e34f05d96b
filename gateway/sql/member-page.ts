import type { Sql } from '../../shared/db/client';
import { roomEventsJson, type EventCursor, type StoredRoomEvent } from './room-events';
import { removalPlace } from './room-gap';
import { storedPageJson, type StoredPage } from './stored-page';

export interface MemberPage {
  /** Places after the asked seq, up to `upToSeq`, at most a page of them. */
  page: StoredPage;
  /** The room's other events after the cursor asked for, placed up to `upToSeq`, oldest first, at most a page of them. */
  events: StoredRoomEvent[];
  /** Undefined while the membership is active; else where it ended (null: not known). */
  endedAfterSeq?: number | null;
}

/**
 * A page of a room for one joining socket, read in the same snapshot as its membership,
 * so that nothing past the member's removal is handed to it, with the room's other events
 * after `eventsAfter` (edits, deletes, room and member changes, other members' removals: they
 * go out among the messages).
 */
export async function loadMemberPage(
  sql: Sql,
  roomId: string,
  userId: string,
  membershipId: number,
  afterSeq: number,
  upToSeq: number,
  pageSize: number,
  eventsAfter: EventCursor,
): Promise<MemberPage> {
  const [row] = await sql<{ active: boolean; removed_after_seq: number | null; page: StoredPage; events: StoredRoomEvent[] }[]>`
    SELECT
      EXISTS (SELECT 1 FROM arcyou_chat_members
              WHERE room_id = ${roomId} AND user_id = ${userId} AND membership_id = ${membershipId} AND deleted_at IS NULL) AS active,
      (SELECT ${removalPlace(sql, roomId)}
       FROM (SELECT ${userId}::uuid AS user_id, ${membershipId}::bigint AS membership_id) here
       LEFT JOIN arcyou_chat_members mb ON mb.room_id = ${roomId} AND mb.user_id = here.user_id) AS removed_after_seq,
      ${storedPageJson(sql, roomId, afterSeq, upToSeq, pageSize)} AS page,
      ${roomEventsJson(sql, roomId, eventsAfter, upToSeq, pageSize, userId)} AS events`;
  const read = { page: row!.page, events: row!.events };
  return row!.active ? read : { ...read, endedAfterSeq: row!.removed_after_seq };
}
