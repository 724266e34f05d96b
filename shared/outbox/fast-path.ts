// The fast path (gateway/send-batcher.ts): a gateway writes the outbox rows of the messages
// it stores as claimed by itself, publishes them right after the commit and deletes them.
// Their `locked_by` starts with this, so that rows in a worker's hands can be told apart;
// a worker id may not (worker/config.ts). SQL repeats it as the literal 'gateway:%' where a
// partial index must match (sql/0005_room_seq.sql); fast-path.test.ts keeps the two equal.
export const FAST_PATH_OWNER_PREFIX = 'gateway:';

export const fastPathOwner = (gatewayId: string) => `${FAST_PATH_OWNER_PREFIX}${gatewayId}`;
