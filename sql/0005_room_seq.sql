-- Delivery by per-room sequence (docs/delivery.md): every message gets `seq`, its
-- position in its room (1, 2, 3, … with no gaps), assigned under the room's row lock, so
-- seq order is commit order. Gateways deliver a room strictly in seq order and read
-- what they miss from here.
--
-- Stop the gateways before applying this migration and start the new ones after it:
-- a gateway of the previous version cannot write `seq`.

ALTER TABLE arcyou_chat_rooms ADD COLUMN last_seq bigint NOT NULL DEFAULT 0;
-- Bumped by every writer that leaves a row of the room to the outbox workers (a member.removed,
-- a message that cannot take the fast path), under the room lock: a send compares it with its
-- snapshot's to know whether such a row appeared while it waited for the lock
-- (gateway/sql/insert-messages.ts).
ALTER TABLE arcyou_chat_rooms ADD COLUMN worker_rows_version bigint NOT NULL DEFAULT 0;

ALTER TABLE arcyou_chat_messages ADD COLUMN seq bigint;
UPDATE arcyou_chat_messages m SET seq = numbered.seq
FROM (SELECT id, row_number() OVER (PARTITION BY room_id ORDER BY id) AS seq FROM arcyou_chat_messages) numbered
WHERE m.id = numbered.id;
UPDATE arcyou_chat_rooms r SET last_seq = counted.last_seq
FROM (SELECT room_id, max(seq) AS last_seq FROM arcyou_chat_messages GROUP BY room_id) counted
WHERE r.id = counted.room_id;
ALTER TABLE arcyou_chat_messages ALTER COLUMN seq SET NOT NULL;
-- Backfill, gap reads and history: a room's messages by position.
CREATE UNIQUE INDEX arcyou_chat_messages_room_seq_idx ON arcyou_chat_messages (room_id, seq);

-- Ids travel as JSON numbers: they must stay exact in JavaScript. Past 2^53 − 1 an
-- insert fails with "reached maximum value of sequence" instead of reporting a wrong id.
ALTER SEQUENCE arcyou_chat_messages_id_seq MAXVALUE 9007199254740991;
ALTER SEQUENCE outbox_id_seq MAXVALUE 9007199254740991;

-- A membership is a member row from its add (or restore) to its removal. Sockets remember
-- the membership they joined under, so that a removal evicts exactly those sockets and
-- never a socket that joined after a re-add. `removed_after_seq` is the removal's place in
-- the room: the member got messages up to it, none after.
CREATE SEQUENCE arcyou_chat_membership_id_seq;
ALTER TABLE arcyou_chat_members ADD COLUMN membership_id bigint;
UPDATE arcyou_chat_members SET membership_id = nextval('arcyou_chat_membership_id_seq');
ALTER TABLE arcyou_chat_members
  ALTER COLUMN membership_id SET DEFAULT nextval('arcyou_chat_membership_id_seq'),
  ALTER COLUMN membership_id SET NOT NULL;
ALTER SEQUENCE arcyou_chat_membership_id_seq OWNED BY arcyou_chat_members.membership_id;
ALTER TABLE arcyou_chat_members ADD COLUMN removed_after_seq bigint;

-- Removal: note its place, under the room lock (taken before any message of the room can
-- commit after it). Restore: a new membership — unless the removal happened earlier in
-- this same transaction, in which case nobody saw it: its event is withdrawn and the
-- membership goes on.
CREATE FUNCTION arcyou_chat_member_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
    UPDATE arcyou_chat_rooms SET updated_at = now(), worker_rows_version = worker_rows_version + 1
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
CREATE TRIGGER arcyou_chat_member_membership BEFORE UPDATE OF deleted_at ON arcyou_chat_members
  FOR EACH ROW EXECUTE FUNCTION arcyou_chat_member_membership();

-- member.removed now names the membership it ended and carries its place (`seq`). A row
-- deleted outright takes the room lock here to read that place.
CREATE OR REPLACE FUNCTION arcyou_chat_member_removed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  place bigint;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    place := NEW.removed_after_seq;
  ELSE
    UPDATE arcyou_chat_rooms SET updated_at = now(), worker_rows_version = worker_rows_version + 1
    WHERE id = OLD.room_id RETURNING last_seq INTO place;
  END IF;
  INSERT INTO outbox (type, room_id, payload)
  VALUES ('member.removed', OLD.room_id,
          jsonb_build_object('user_id', OLD.user_id, 'membership_id', OLD.membership_id, 'seq', place));
  RETURN NULL;
END;
$$;

-- Outbox rows are due at once unless a producer or a retry says otherwise. The default
-- used to be now(): the inserting transaction's *start*, so a row written by a
-- transaction that waited for the room lock could look "not yet due" to a claim that
-- began earlier, while the row after it was due — and the room went out of order.
ALTER TABLE outbox ALTER COLUMN next_attempt_at SET DEFAULT '-infinity';
UPDATE outbox SET next_attempt_at = '-infinity' WHERE status = 'pending' AND attempts = 0 AND next_attempt_at <= now();

-- Gap reads: where an ended membership was removed when its member row no longer says
-- (deleted outright, or added again since): its member.removed row (kept OUTBOX_RETENTION).
CREATE INDEX outbox_member_removed_idx ON outbox (room_id) WHERE type = 'member.removed';

-- Rows a gateway publishes itself (the fast path: locked_by 'gateway:…', see
-- shared/outbox/fast-path.ts) are written and deleted by the thousand per second: only the
-- primary key and the reaper's index hold them. The others below leave them out.
--
-- Claim: rows that hold back the later rows of their room — in a worker's hands, or pending
-- with a time to wait for (a retry's backoff). Rows due at once are not in it, so it stays
-- small. A gateway's rows do not hold a room back: receivers place a room event after the
-- message it follows whenever that message comes.
DROP INDEX outbox_room_blockers_idx;
CREATE INDEX outbox_room_blockers_idx ON outbox (room_id, id)
  WHERE (status = 'in_progress' AND locked_by NOT LIKE 'gateway:%') OR (status = 'pending' AND next_attempt_at <> '-infinity');
-- Send: does the room have a row in the workers' hands (gateway/sql/insert-messages.ts)?
DROP INDEX outbox_unpublished_room_idx;
CREATE INDEX outbox_worker_rows_idx ON outbox (room_id)
  WHERE status = 'pending' OR (status = 'in_progress' AND locked_by NOT LIKE 'gateway:%');
