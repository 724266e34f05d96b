-- migrate: no transaction
-- A gateway that lost its bus connection reads back the room events other than messages and
-- removals (edits, deletes, room and member changes) placed since its last delivered message,
-- from their outbox rows (gateway/sql/room-gap.ts). They are few next to the messages: an
-- index of their own, built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_room_events_idx ON outbox (room_id, id)
  WHERE type NOT IN ('message.created', 'member.removed');
