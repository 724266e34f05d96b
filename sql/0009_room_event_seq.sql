-- Where the room's newest event other than a message (a removal, an edit, a room or member
-- change) was placed: the room's last_seq when it happened. A gateway hands a message it
-- stored to its own sockets without waiting for Redis only when it has delivered the message
-- before it and no such event was placed since then (gateway/sql/insert-messages.ts).
-- NULL for rooms from before this column: unknown, until the room's next message sets it.
ALTER TABLE arcyou_chat_rooms ADD COLUMN event_seq bigint;
ALTER TABLE arcyou_chat_rooms ALTER COLUMN event_seq SET DEFAULT 0;

CREATE OR REPLACE FUNCTION arcyou_chat_member_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
    UPDATE arcyou_chat_rooms SET updated_at = now(), worker_rows_version = worker_rows_version + 1, event_seq = last_seq
    WHERE id = NEW.room_id RETURNING last_seq INTO NEW.removed_after_seq;
  ELSIF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN
    DELETE FROM outbox
    WHERE type = 'member.removed' AND room_id = OLD.room_id AND status = 'pending'
      AND xmin = pg_current_xact_id()::xid
      AND payload->>'user_id' = OLD.user_id::text
      AND (payload->>'membership_id')::bigint = OLD.membership_id;
    IF NOT FOUND THEN
      NEW.membership_id := nextval('arcyou_chat_membership_id_seq');
    END IF;
    NEW.removed_after_seq := NULL;
  END IF;
  RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION arcyou_chat_member_removed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  place bigint;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    place := NEW.removed_after_seq;
  ELSE
    UPDATE arcyou_chat_rooms SET updated_at = now(), worker_rows_version = worker_rows_version + 1, event_seq = last_seq
    WHERE id = OLD.room_id RETURNING last_seq INTO place;
  END IF;
  INSERT INTO outbox (type, room_id, payload)
  VALUES ('member.removed', OLD.room_id,
          jsonb_build_object('user_id', OLD.user_id, 'membership_id', OLD.membership_id, 'seq', place));
  RETURN NULL;
END;
$$;
