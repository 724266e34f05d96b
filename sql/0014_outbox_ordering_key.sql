-- outbox.room_id is the rows' ordering key: rows with the same key are handed out one at a
-- time, in id order (worker/outbox/sql/claim.ts). For chat events it is the room; for
-- document jobs, the document. The column keeps its name, which gateways and workers of
-- the previous version still use during a rolling deploy.
COMMENT ON COLUMN outbox.room_id IS 'Ordering key: rows with the same key are published one at a time, in id order. The room id for chat events; the document id for document jobs.';
