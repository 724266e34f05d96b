-- Chat schema, the outbox, and the documents table of the document worker.

CREATE TYPE arcyou_chat_message_type AS ENUM ('text', 'image', 'file', 'system');
CREATE TYPE arcyou_chat_message_status AS ENUM ('sent', 'delivered', 'read', 'deleted');
CREATE TYPE arcyou_chat_member_role AS ENUM ('owner', 'manager', 'participant');
CREATE TYPE outbox_status AS ENUM ('pending', 'in_progress', 'published', 'dead');
CREATE TYPE document_processing_status AS ENUM ('pending', 'processing', 'processed', 'failed');

CREATE TABLE arcyou_chat_rooms (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name            text NOT NULL,
  description     text,
  last_message_id bigint,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz
);

CREATE TABLE arcyou_chat_messages (
  id                  bigserial PRIMARY KEY,
  room_id             uuid NOT NULL REFERENCES arcyou_chat_rooms (id) ON DELETE CASCADE,
  user_id             uuid NOT NULL,
  type                arcyou_chat_message_type NOT NULL DEFAULT 'text',
  content             jsonb NOT NULL,
  reply_to_message_id bigint REFERENCES arcyou_chat_messages (id) ON DELETE SET NULL,
  status              arcyou_chat_message_status NOT NULL DEFAULT 'sent',
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz,
  deleted_at          timestamptz
);
-- Backfill: messages of a room after a given id, in id order.
CREATE INDEX arcyou_chat_messages_room_id_idx ON arcyou_chat_messages (room_id, id);

CREATE TABLE arcyou_chat_members (
  room_id              uuid NOT NULL REFERENCES arcyou_chat_rooms (id) ON DELETE CASCADE,
  user_id              uuid NOT NULL,
  role                 arcyou_chat_member_role NOT NULL DEFAULT 'participant',
  last_read_message_id bigint,
  created_at           timestamptz NOT NULL DEFAULT now(),
  deleted_at           timestamptz,
  PRIMARY KEY (room_id, user_id)
);
-- "Which rooms is this user in" (the primary key answers "is this user in this room").
CREATE INDEX arcyou_chat_members_user_idx ON arcyou_chat_members (user_id) WHERE deleted_at IS NULL;

CREATE TABLE outbox (
  id              bigserial PRIMARY KEY,
  type            text NOT NULL,
  room_id         uuid,
  payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
  status          outbox_status NOT NULL DEFAULT 'pending',
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  locked_by       text,
  locked_until    timestamptz,
  published_at    timestamptz,
  error           text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
-- The claim query: pending rows in id order (the order messages were committed in a
-- room, which is the order clients must see), with next_attempt_at at hand to skip
-- rows that are waiting out a backoff.
CREATE INDEX outbox_pending_idx ON outbox (id) INCLUDE (next_attempt_at, type) WHERE status = 'pending';
-- Join: which of a room's messages are still on their way to the bus.
CREATE INDEX outbox_unpublished_room_idx ON outbox (room_id, id) WHERE status IN ('pending', 'in_progress');
-- Claim: rows that hold back the later rows of their room (in flight, or waiting to be
-- retried). Small, so the head-of-line check stays cheap whatever the backlog.
CREATE INDEX outbox_room_blockers_idx ON outbox (room_id, id) WHERE status = 'in_progress' OR (status = 'pending' AND attempts > 0);
-- The reaper: claimed rows whose lock has run out.
CREATE INDEX outbox_in_progress_idx ON outbox (locked_until) WHERE status = 'in_progress';
-- The retention sweep: published rows by age.
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE status = 'published';

-- Wake sleeping workers as soon as a transaction that added outbox rows commits (NOTIFY
-- is delivered at commit, deduplicated per transaction). Chat messages are the exception:
-- a NOTIFY per commit serialises commits and halves send throughput, so the gateway's send
-- notifies itself, at most once per OUTBOX_NOTIFY_WINDOW_MS (gateway/outbox-waker.ts).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox_new', '');
  RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
  FOR EACH ROW WHEN (NEW.type <> 'message.created') EXECUTE FUNCTION outbox_notify();

CREATE TABLE documents (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id           uuid NOT NULL,
  processing_status document_processing_status NOT NULL DEFAULT 'pending',
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz
);
