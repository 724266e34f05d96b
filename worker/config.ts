import * as v from 'valibot';
import { commonEnv, databaseEnv, databaseUrl, defaultWorkerId, integer, pubsubEnv, text } from '../shared/config';
import { duration } from '../shared/duration';
import { FAST_PATH_OWNER_PREFIX } from '../shared/outbox/fast-path';

/** A worker process's own HTTP port: GET /metrics, /health (liveness), /ready (PostgreSQL, Redis). */
export const workerMetricsEnv = {
  METRICS_HOST: text('0.0.0.0'),
  /** 0 = no HTTP server. */
  METRICS_PORT: integer(9091, 0, 65_535),
};

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
  /** Written to locked_by; may not start with "gateway:" (rows a gateway publishes itself). */
  WORKER_ID: v.pipe(
    text(defaultWorkerId()),
    v.check((id) => !id.startsWith(FAST_PATH_OWNER_PREFIX), `a name not starting with "${FAST_PATH_OWNER_PREFIX}"`),
  ),
  /** Published rows older than this are deleted (e.g. 7d, 12h, 3600 = seconds). */
  OUTBOX_RETENTION: duration('7d', 1000),
  OUTBOX_RETENTION_INTERVAL_MS: integer(60_000, 1000, 86_400_000),
  OUTBOX_RETENTION_BATCH: integer(1000, 1, 100_000),
  ...workerMetricsEnv,
  /** How often the outbox backlog (pending count, oldest row's age) is measured for the metrics. */
  OUTBOX_STATS_INTERVAL_MS: integer(10_000, 100, 3_600_000),
};

export const chatWorkerEnv = {
  ...outboxWorkerEnv,
  ...pubsubEnv,
  /** A send's idempotency key (temp_id, Idempotency-Key) is kept this long: a retry later than that stores a new message. */
  MESSAGE_KEY_RETENTION: duration('1d', 60_000),
};
