-- Idempotent enqueue: a producer may give an outbox row a dedupe key; a second row
-- with the same key is not inserted while the first one exists (retention deleting a
-- published row frees its key again).
ALTER TABLE outbox ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX outbox_dedupe_key_idx ON outbox (dedupe_key) WHERE dedupe_key IS NOT NULL;
