-- migrate: no transaction
-- Idempotency keys of sends expire (MESSAGE_KEY_RETENTION, swept by the chat workers):
-- the sweep finds the old ones by age. Built without blocking sends.
CREATE INDEX CONCURRENTLY IF NOT EXISTS arcyou_chat_message_keys_created_idx ON arcyou_chat_message_keys (created_at);
