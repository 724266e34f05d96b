import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/config';
import { loadEmbeddingQueueConfig, loadEmbeddingWorkerConfig } from './config';

const base = { DATABASE_URL: 'postgres://localhost/arcyou', REDIS_URL: 'redis://localhost:6379' };
const cluster = 'redis+cluster://10.0.0.1:7000,10.0.0.2:7000';

describe('embedding worker config', () => {
  it('refuses an overlap of half a chunk or more, naming both variables', () => {
    expect(() => loadEmbeddingWorkerConfig({ ...base, EMBEDDING_CHUNK_CHARS: '400', EMBEDDING_CHUNK_OVERLAP: '200' })).toThrow(
      'EMBEDDING_CHUNK_OVERLAP must be less than half of EMBEDDING_CHUNK_CHARS (400) (got 200)',
    );
    expect(loadEmbeddingWorkerConfig({ ...base, EMBEDDING_CHUNK_CHARS: '400', EMBEDDING_CHUNK_OVERLAP: '199' }).EMBEDDING_CHUNK_OVERLAP).toBe(199);
  });

  it('refuses a backoff cap below its base', () => {
    expect(() => loadEmbeddingWorkerConfig({ ...base, EMBEDDING_BACKOFF_BASE_MS: '5000', EMBEDDING_BACKOFF_CAP_MS: '4000' })).toThrow(
      'EMBEDDING_BACKOFF_CAP_MS must be at least EMBEDDING_BACKOFF_BASE_MS (5000) (got 4000)',
    );
  });

  it('lists every broken rule at once', () => {
    const env = { ...base, EMBEDDING_CHUNK_CHARS: '400', EMBEDDING_CHUNK_OVERLAP: '300', EMBEDDING_BACKOFF_BASE_MS: '5000', EMBEDDING_BACKOFF_CAP_MS: '4000' };
    expect(() => loadEmbeddingWorkerConfig(env)).toThrow(ConfigError);
    expect(() => loadEmbeddingWorkerConfig(env)).toThrow(/EMBEDDING_CHUNK_OVERLAP must .*\n {2}EMBEDDING_BACKOFF_CAP_MS must/);
  });

  it('on a Redis Cluster, wants both queue keys to share a hash tag, and says how to name them', () => {
    const keys = { EMBEDDING_QUEUE_KEY: 'embedding:queue', EMBEDDING_FAILED_KEY: 'embedding:failed' };
    const message =
      'EMBEDDING_QUEUE_KEY and EMBEDDING_FAILED_KEY must share a hash tag on a Redis Cluster, so that every key of the queue is in one slot, ' +
      'e.g. {embedding}:queue and {embedding}:failed (got "embedding:queue" and "embedding:failed")';
    expect(() => loadEmbeddingQueueConfig({ REDIS_URL: cluster, ...keys })).toThrow(message);
    expect(() => loadEmbeddingWorkerConfig({ ...base, REDIS_URL: cluster, ...keys })).toThrow(message);
    expect(loadEmbeddingQueueConfig({ REDIS_URL: 'redis://localhost:6379', ...keys }).EMBEDDING_QUEUE_KEY).toBe('embedding:queue');
    expect(
      loadEmbeddingQueueConfig({ REDIS_URL: cluster, EMBEDDING_QUEUE_KEY: '{embedding}:queue', EMBEDDING_FAILED_KEY: '{embedding}:failed' }).REDIS_URL,
    ).toBe(cluster);
  });
});
