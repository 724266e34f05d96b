-- Where the room's newest event other than a message (a removal, an edit, a room or member
-- change) was placed: the room's last_seq when it happened. A gateway hands a message it
-- stored to its own sockets without waiting for Redis only when it has delivered the message
-- before it and no such event was placed since then (gateway/sql/insert-messages.ts).
-- NULL for rooms from before this column: unknown, until the room's next message sets it.
ALTER TABLE arcyou_chat_rooms ADD COLUMN event_seq bigint;
ALTER TABLE arcyou_chat_rooms ALTER COLUMN event_seq SET DEFAULT 0;

-- Every room event that has a place is written as an outbox row carrying it (`seq`), under
-- the room's lock: recording the place here covers every writer, now and later.
CREATE FUNCTION arcyou_chat_room_event_placed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE arcyou_chat_rooms SET event_seq = (NEW.payload->>'seq')::bigint WHERE id = NEW.room_id;
  RETURN NULL;
END;
$$;
CREATE TRIGGER arcyou_chat_room_event_placed AFTER INSERT ON outbox
  FOR EACH ROW
  WHEN (NEW.type <> 'message.created' AND NEW.type NOT LIKE 'document.%' AND NEW.room_id IS NOT NULL AND jsonb_typeof(NEW.payload->'seq') = 'number')
  EXECUTE FUNCTION arcyou_chat_room_event_placed();
