import type { Sql } from '../../shared/db/client';
import { roomEventsJson, type StoredRoomEvent } from './room-events';
import { storedPageJson, type StoredPage } from './stored-page';

/** The outbox's member.removed row of the membership `here` (kept OUTBOX_RETENTION; a removal and a re-add in one transaction write none). */
const removalRowOfHere = (sql: Sql, roomId: string) => sql`
  o.room_id = ${roomId} AND o.type = 'member.removed'
  AND o.payload->>'user_id' = here.user_id::text AND (o.payload->>'membership_id')::bigint = here.membership_id`;

/**
 * Where the membership `here` ended: its member row says so while it is that membership's
 * (`mb`); once the row is deleted or the member added again, its member.removed event in the
 * outbox does (until retention purges it). Null when neither knows any more.
 */
export const removalPlace = (sql: Sql, roomId: string) => sql`
  CASE WHEN mb.membership_id = here.membership_id THEN mb.removed_after_seq
       ELSE (SELECT (o.payload->>'seq')::bigint FROM outbox o WHERE ${removalRowOfHere(sql, roomId)} LIMIT 1)
  END`;

/** The outbox id of the membership `here`'s member.removed event (its event_id), or null once that row is gone. */
const removalEventId = (sql: Sql, roomId: string) => sql`(SELECT o.id FROM outbox o WHERE ${removalRowOfHere(sql, roomId)} LIMIT 1)`;

export interface Membership {
  userId: string;
  membershipId: number;
}

export interface EndedMembership extends Membership {
  /** Where the membership ended (its removal's place), or null when that is no longer known (see removalPlace). */
  removedAfterSeq: number | null;
  /** The outbox id of its member.removed event (its `event_id`), or null when that row is gone. */
  eventId: number | null;
}

export interface RoomGap {
  page: StoredPage;
  /** Of the memberships asked about, those that are no longer active. */
  ended: EndedMembership[];
  /** The room's other events placed from `afterSeq` on (up to `upToSeq`), oldest first, as long as their outbox rows are kept. */
  events: StoredRoomEvent[];
}

/**
 * A page of what a gateway missed in a room (places after `afterSeq`, up to `upToSeq` or
 * the room's end), and — in the same snapshot — which memberships of its sockets there
 * have ended: a removal whose event was lost must still take effect. Also the room's other
 * events placed from `afterSeq` on: a bus drop may have lost them, and those the bus has not
 * brought yet would otherwise come after messages placed behind them.
 */
export async function loadRoomGap(
  sql: Sql,
  roomId: string,
  afterSeq: number,
  upToSeq: number | null,
  memberships: readonly Membership[],
  pageSize: number,
): Promise<RoomGap> {
  const users = memberships.map((m) => m.userId);
  const ids = memberships.map((m) => m.membershipId);
  const [row] = await sql<
    {
      page: StoredPage;
      ended: { user_id: string; membership_id: number; removed_after_seq: number | null; event_id: number | null }[];
      events: StoredRoomEvent[];
    }[]
  >`
    SELECT
      ${storedPageJson(sql, roomId, afterSeq, upToSeq, pageSize)} AS page,
      ${roomEventsJson(sql, roomId, { seq: afterSeq, id: 0 }, upToSeq, null)} AS events,
      (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'user_id', here.user_id, 'membership_id', here.membership_id,
                'removed_after_seq', ${removalPlace(sql, roomId)}, 'event_id', ${removalEventId(sql, roomId)})), '[]'::jsonb)
       FROM unnest(${users}::uuid[], ${ids}::bigint[]) AS here (user_id, membership_id)
       LEFT JOIN arcyou_chat_members mb ON mb.room_id = ${roomId} AND mb.user_id = here.user_id
       WHERE mb.user_id IS NULL OR mb.membership_id <> here.membership_id OR mb.deleted_at IS NOT NULL) AS ended`;
  return {
    page: row!.page,
    ended: row!.ended.map((e) => ({ userId: e.user_id, membershipId: e.membership_id, removedAfterSeq: e.removed_after_seq, eventId: e.event_id })),
    events: row!.events,
  };
}
