import type { Sql } from '../../shared/db/client';

/** A room event other than a message or a removal (an edit, a delete, a room or member change), as its outbox row keeps it. */
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
 * SQL for a jsonb array of the room's events other than messages and removals that come
 * after `after` (by place, then outbox id) and are placed up to `upToSeq` (null: the room's
 * end), in that order, at most `limit` (null: all). They are read from their outbox rows, so
 * only as long as those are kept (OUTBOX_RETENTION); rows that could never be published are
 * left out. The type filter repeats the index's predicate literally so that it is used.
 */
export function roomEventsJson(sql: Sql, roomId: string, after: { seq: Bound; id: number }, upToSeq: Bound | null, limit: number | null) {
  return sql`(
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', e.id, 'type', e.type, 'payload', e.payload) ORDER BY e.place, e.id), '[]'::jsonb)
    FROM (
      SELECT o.id, o.type, o.payload, ${place(sql)} AS place FROM outbox o
      WHERE o.room_id = ${roomId} AND o.type NOT IN ('message.created', 'member.removed')
        AND o.type NOT LIKE 'document.%' AND o.status <> 'dead'
        AND (${place(sql)}, o.id) > (${after.seq}::bigint, ${after.id}::bigint)
        AND (${upToSeq}::bigint IS NULL OR ${place(sql)} <= ${upToSeq}::bigint)
      ORDER BY ${place(sql)}, o.id
      LIMIT ${limit}
    ) e)`;
}
