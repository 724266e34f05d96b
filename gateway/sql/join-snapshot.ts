import type { Sql } from '../../shared/db/client';
import { roomEventsJson, type StoredRoomEvent } from './room-events';
import { storedPageJson, type StoredPage } from './stored-page';

export interface JoinSnapshot {
  membershipId: number;
  /** The room's newest seq: live delivery to this socket starts after it. */
  lastSeq: number;
  /** The backfill starts after this seq (the client's after_seq, else the read position). */
  startAfter: number;
  /** The first page of the backfill: places after startAfter, up to min(lastSeq, startAfter + limit). */
  page: StoredPage;
  /** The room's other events placed from startAfter on, up to the first page's end, at most a page of them. */
  events: StoredRoomEvent[];
}

/**
 * What a join needs, read in one snapshot: the member's active membership, the room's
 * last seq, where the backfill starts and its first page (with the room's other events placed
 * there, edits and deletes of earlier messages included). Null for a non-member.
 * Without `afterSeq` the backfill starts after the member's read position (the seq of
 * its last_read_message_id); a start past the room's end is taken as the end.
 */
export async function loadJoinSnapshot(
  sql: Sql,
  roomId: string,
  userId: string,
  afterSeq: number | null,
  backfillLimit: number,
  pageSize: number,
): Promise<JoinSnapshot | null> {
  const [row] = await sql<{ membership_id: number; last_seq: number; start_after: number; page: StoredPage; events: StoredRoomEvent[] }[]>`
    WITH member AS (
      SELECT membership_id, last_read_message_id FROM arcyou_chat_members
      WHERE room_id = ${roomId} AND user_id = ${userId} AND deleted_at IS NULL
    ), start AS (
      SELECT member.membership_id, r.last_seq,
             LEAST(r.last_seq, COALESCE(
               ${afterSeq}::bigint,
               (SELECT m.seq FROM arcyou_chat_messages m
                WHERE m.room_id = ${roomId} AND m.id <= member.last_read_message_id
                ORDER BY m.id DESC LIMIT 1),
               0)) AS start_after
      FROM member, arcyou_chat_rooms r WHERE r.id = ${roomId}
    )
    SELECT membership_id, last_seq, start_after,
      ${storedPageJson(sql, roomId, sql`start.start_after`, sql`LEAST(start.last_seq, start.start_after + ${backfillLimit})`, pageSize)} AS page,
      ${roomEventsJson(sql, roomId, { seq: sql`start.start_after`, id: 0 }, sql`LEAST(start.last_seq, start.start_after + ${backfillLimit})`, pageSize, userId)} AS events
    FROM start`;
  if (!row) return null;
  return { membershipId: row.membership_id, lastSeq: row.last_seq, startAfter: row.start_after, page: row.page, events: row.events };
}
