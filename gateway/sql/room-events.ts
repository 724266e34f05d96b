import type { Sql } from '../../shared/db/client';

/** A room event other than a message (an edit, a delete, a room or member change, a removal), as its outbox row keeps it. */
export interface StoredRoomEvent {
  id: number;
  type: string;
  /** Its data, and its place `seq` (it follows message `seq`). */
  payload: unknown;
}

/** Where a reader of a room's events stands: it has every event up to this place and, at that place, up to this outbox id. */
export interface EventCursor {
  seq: number;
  id: number;
}

type Bound = number | ReturnType<Sql>;

/** An event's place, as the outbox row keeps it (indexed by outbox_room_event_places_idx, sql/0011). */
const place = (sql: Sql) => sql`(o.payload->>'seq')::bigint`;

/**
 * SQL for a jsonb array of the room's events other than messages that come after `after`
 * (by place, then outbox id) and are placed up to `upToSeq` (null: the room's end), in that
 * order, at most `limit` (null: all). They are read from their outbox rows, so only as long
 * as those are kept (OUTBOX_RETENTION); rows that could never be published are left out.
 * `exceptRemovalsOf` leaves out that user's own removals: a joining socket learns of its
 * own from its membership, and an earlier membership's is not news to it. The type filter
 * repeats the index's predicate literally so that it is used.
 */
export function roomEventsJson(
  sql: Sql,
  roomId: string,
  after: { seq: Bound; id: number },
  upToSeq: Bound | null,
  limit: number | null,
  exceptRemovalsOf: string | null = null,
) {
  return sql`(
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', e.id, 'type', e.type, 'payload', e.payload) ORDER BY e.place, e.id), '[]'::jsonb)
    FROM (
      SELECT o.id, o.type, o.payload, ${place(sql)} AS place FROM outbox o
      WHERE o.room_id = ${roomId} AND o.type <> 'message.created'
        AND o.type NOT LIKE 'document.%' AND o.status <> 'dead'
        AND (${place(sql)}, o.id) > (${after.seq}::bigint, ${after.id}::bigint)
        AND (${upToSeq}::bigint IS NULL OR ${place(sql)} <= ${upToSeq}::bigint)
        AND (${exceptRemovalsOf}::text IS NULL OR NOT (o.type = 'member.removed' AND o.payload->>'user_id' = ${exceptRemovalsOf}::text))
      ORDER BY ${place(sql)}, o.id
      LIMIT ${limit}
    ) e)`;
}
