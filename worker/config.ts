import * as v from 'valibot';
import { commonEnv, databaseEnv, databaseUrl, defaultWorkerId, integer, pubsubEnv, text } from '../shared/config';

/** Settings shared by every outbox worker (chat, document). */
export const outboxWorkerEnv = {
  ...commonEnv,
  ...databaseEnv,
  /** LISTEN needs a session: set this to a direct PostgreSQL URL when DATABASE_URL goes through PgBouncer. */
  LISTEN_DATABASE_URL: v.optional(databaseUrl),
  POLL_INTERVAL_MS: integer(1000, 10, 3_600_000),
  BATCH_SIZE: integer(100, 1, 10_000),
  LOCK_SECONDS: integer(30, 1, 86_400),
  MAX_ATTEMPTS: integer(5, 1, 1_000),
  BACKOFF_BASE_MS: integer(1000, 1, 3_600_000),
  BACKOFF_CAP_MS: integer(60_000, 1, 86_400_000),
  REAP_INTERVAL_MS: integer(5000, 100, 3_600_000),
  WORKER_ID: text(defaultWorkerId()),
};

export const chatWorkerEnv = { ...outboxWorkerEnv, ...pubsubEnv };
