import * as v from 'valibot';
import { busRedisUrl, commonEnv, databaseEnv, defaultWorkerId, integer, loadConfig, text, url, type ConfigOf, type ConfigRule } from '../../shared/config';
import { keySlot, parseClusterUrl } from '../../shared/redis-cluster';
import { queueKeys } from './keys';
import { workerMetricsEnv } from '../config';

/** Where the queue lives; shared by the consumer, the producer helper and the embedding command. */
export const embeddingQueueEnv = {
  /** One Redis, or a Redis Cluster (redis+cluster://…): then the two keys must share a hash tag. */
  REDIS_URL: busRedisUrl,
  EMBEDDING_QUEUE_KEY: text('embedding:queue'),
  EMBEDDING_FAILED_KEY: text('embedding:failed'),
};

export const embeddingWorkerEnv = {
  ...commonEnv,
  ...databaseEnv,
  ...embeddingQueueEnv,
  ...workerMetricsEnv,
  /** Next to the chat (9091) and document (9092) workers when all run on one host. */
  METRICS_PORT: integer(9093, 0, 65_535),
  /** Names this consumer's processing list. Keep it stable across restarts to recover at once after a crash. */
  EMBEDDING_CONSUMER_ID: text(defaultWorkerId()),
  EMBEDDING_CONCURRENCY: integer(4, 1, 256),
  EMBEDDING_MAX_RETRIES: integer(5, 0, 100),
  EMBEDDING_BACKOFF_BASE_MS: integer(1000, 1, 3_600_000),
  EMBEDDING_BACKOFF_CAP_MS: integer(60_000, 1, 86_400_000),
  EMBEDDING_BLOCK_TIMEOUT_MS: integer(1000, 100, 60_000),
  EMBEDDING_RETRY_POLL_MS: integer(1000, 50, 60_000),
  EMBEDDING_HEARTBEAT_TTL_MS: integer(30_000, 1000, 3_600_000),
  EMBEDDING_API_URL: v.optional(url(['http:', 'https:']), 'https://api.openai.com/v1/embeddings'),
  EMBEDDING_MODEL: text('text-embedding-3-small'),
  EMBEDDING_API_KEY: v.optional(v.string()),
  EMBEDDING_API_TIMEOUT_MS: integer(30_000, 100, 600_000),
  EMBEDDING_BATCH_SIZE: integer(64, 1, 2048),
  EMBEDDING_CHUNK_CHARS: integer(2000, 100, 100_000),
  EMBEDDING_CHUNK_OVERLAP: integer(200, 0, 50_000),
  EMBEDDING_MAX_CHUNKS: integer(500, 1, 100_000),
};

/**
 * On a Redis Cluster every key of the queue must be in one slot: jobs move between them in
 * one command (BLMOVE, MULTI, Lua). The derived keys hang off the queue key, so both given
 * keys need the same hash tag, e.g. `{embedding}:queue` and `{embedding}:failed`.
 */
const queueKeysShareASlot: ConfigRule<ConfigOf<typeof embeddingQueueEnv>> = {
  names: ['EMBEDDING_QUEUE_KEY', 'EMBEDDING_FAILED_KEY'],
  holds(config) {
    if (!parseClusterUrl(config.REDIS_URL)) return true;
    const keys = queueKeys(config.EMBEDDING_QUEUE_KEY, config.EMBEDDING_FAILED_KEY);
    const slot = keySlot(keys.queue);
    return [keys.delayed, keys.failed, keys.consumers, keys.processing('c'), keys.heartbeat('c')].every((key) => keySlot(key) === slot);
  },
  must: () => 'share a hash tag on a Redis Cluster, so that every key of the queue is in one slot, e.g. {embedding}:queue and {embedding}:failed',
};

type EmbeddingWorkerRule = ConfigRule<ConfigOf<typeof embeddingWorkerEnv>>;

const overlapUnderHalfAChunk: EmbeddingWorkerRule = {
  names: ['EMBEDDING_CHUNK_OVERLAP'],
  holds: (config) => config.EMBEDDING_CHUNK_OVERLAP * 2 < config.EMBEDDING_CHUNK_CHARS,
  must: (config) => `be less than half of EMBEDDING_CHUNK_CHARS (${config.EMBEDDING_CHUNK_CHARS})`,
};

const backoffCapAtLeastBase: EmbeddingWorkerRule = {
  names: ['EMBEDDING_BACKOFF_CAP_MS'],
  holds: (config) => config.EMBEDDING_BACKOFF_CAP_MS >= config.EMBEDDING_BACKOFF_BASE_MS,
  must: (config) => `be at least EMBEDDING_BACKOFF_BASE_MS (${config.EMBEDDING_BACKOFF_BASE_MS})`,
};

/** embeddingQueueEnv, plus the check between its variables. */
export function loadEmbeddingQueueConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(embeddingQueueEnv, env, [queueKeysShareASlot]);
}

export type EmbeddingWorkerConfig = ReturnType<typeof loadEmbeddingWorkerConfig>;

/** embeddingWorkerEnv, plus the checks between variables. */
export function loadEmbeddingWorkerConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(embeddingWorkerEnv, env, [queueKeysShareASlot, overlapUnderHalfAChunk, backoffCapAtLeastBase]);
}
