-- Idempotent sends: a send that carries a client key (the WebSocket `temp_id`, or the HTTP
-- API's Idempotency-Key) is stored once per room and sender; a retry with the same key gets
-- the first message back (gateway/sql/insert-messages.ts). A table of its own, so that adding
-- it neither rewrites nor locks the messages table on a live database.
CREATE TABLE arcyou_chat_message_keys (
  room_id    uuid NOT NULL REFERENCES arcyou_chat_rooms (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL,
  client_key text NOT NULL,
  message_id bigint NOT NULL REFERENCES arcyou_chat_messages (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, user_id, client_key)
);
-- The message's ON DELETE CASCADE looks keys up by message.
CREATE INDEX arcyou_chat_message_keys_message_idx ON arcyou_chat_message_keys (message_id);
