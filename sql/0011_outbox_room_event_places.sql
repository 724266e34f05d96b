-- migrate: no transaction
-- Joins and resumes read the room events placed among the messages they send (edits,
-- deletes, room and member changes, removals: gateway/sql/room-events.ts), and a gateway
-- that lost its bus connection reads back those placed since its last message. Both ask by
-- place (the `seq` the event follows), so the index is by place; it replaces the one by
-- outbox id.
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_room_event_places_idx ON outbox (room_id, ((payload->>'seq')::bigint), id)
  WHERE type <> 'message.created';
DROP INDEX CONCURRENTLY IF EXISTS outbox_room_events_idx;
