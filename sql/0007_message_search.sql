-- migrate: no transaction
-- Message search (GET /v1/rooms/{room_id}/messages/search): a substring match on a text
-- message, case-insensitive, in any script — trigrams do not need words separated by
-- spaces, so Korean works like English. The index is built without blocking sends.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX CONCURRENTLY IF NOT EXISTS arcyou_chat_messages_text_trgm_idx
  ON arcyou_chat_messages USING gin ((content->>'text') gin_trgm_ops) WHERE deleted_at IS NULL;
