// The embedding queue on a real Redis Cluster (3 masters): with both keys under one hash
// tag, every key of the queue is in one slot, so the moves between them (BLMOVE, MULTI,
// the Lua scripts) work as on one Redis — a job processed, one retried through the delayed
// set, one failed, then requeued; stats find the consumer's list. Keys without a shared
// hash tag are refused up front with what to do.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, type RedisClient } from '../shared/redis';
import { keySlot } from '../shared/redis-cluster';
import { queueKeys } from '../worker/embedding/keys';
import { enqueueEmbeddingJob } from '../worker/embedding/producer';
import { startNodeProcess, type RunningProcess } from './support/child-process';
import { startEmbeddingsApi, type EmbeddingsApi } from './support/embeddings-api';
import { startRedisCluster, type PrivateRedisCluster } from './support/redis-cluster';
import { runCli } from './support/run-cli';
import { createTestDatabase, type TestDatabase } from './support/services';

describe('embedding queue on a Redis Cluster', () => {
  let db: TestDatabase;
  let api: EmbeddingsApi;
  let cluster: PrivateRedisCluster;
  let redis: RedisClient;
  let url: string;
  const processes: RunningProcess[] = [];
  beforeAll(async () => {
    [db, api, cluster] = await Promise.all([createTestDatabase(), startEmbeddingsApi(), startRedisCluster()]);
    url = `redis+cluster://${cluster.seeds}`;
    redis = createRedisClient(url, 'test');
  }, 60_000);
  afterAll(async () => {
    for (const proc of processes) if (proc.alive()) proc.child.kill('SIGKILL');
    await Promise.all(processes.map((p) => p.exited));
    redis?.disconnect();
    await api?.close();
    await cluster?.destroy();
    await db?.drop();
  });

  it('processes, retries, fails and requeues jobs with every key of the queue in one slot', async () => {
    const tag = `{embedding-${randomUUID().slice(0, 8)}}`;
    const keys = queueKeys(`${tag}:queue`, `${tag}:failed`);
    const env = { REDIS_URL: url, EMBEDDING_QUEUE_KEY: keys.queue, EMBEDDING_FAILED_KEY: keys.failed };
    const worker = startNodeProcess('worker/embedding/main.ts', {
      ...env,
      DATABASE_URL: db.url,
      EMBEDDING_CONSUMER_ID: 'c1',
      EMBEDDING_API_URL: api.endpoint,
      EMBEDDING_MODEL: 'test-model',
      EMBEDDING_BLOCK_TIMEOUT_MS: '200',
      EMBEDDING_BACKOFF_BASE_MS: '50',
      EMBEDDING_BACKOFF_CAP_MS: '100',
      EMBEDDING_RETRY_POLL_MS: '50',
      EMBEDDING_MAX_RETRIES: '3',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    });
    processes.push(worker);
    await worker.waitForOutput(/embedding worker started/);

    const flaky = `FLAKY:${randomUUID()}:2`;
    for (const [post, content] of [
      ['ok-1', 'one'],
      ['ok-2', 'two'],
      ['flaky', `${flaky} comes through on the third try`],
      ['doomed', 'FAIL400 never'],
    ]) {
      await enqueueEmbeddingJob(redis, keys.queue, { post_id: post!, title: post!, content: content! });
    }
    const embedded = async () => (await db.sql<{ post_id: string }[]>`SELECT post_id FROM embedded_posts ORDER BY post_id`).map((r) => r.post_id);
    await expect.poll(embedded, { timeout: 15_000 }).toEqual(['flaky', 'ok-1', 'ok-2']);
    await expect.poll(() => redis.llen(keys.failed), { timeout: 10_000 }).toBe(1);

    const stats = await runCli('worker/embedding/embedding-cli.ts', ['stats'], env);
    expect(stats).toMatchObject({ code: 0, stderr: '' });
    expect(stats.stdout).toContain(`${keys.failed}: 1 failed`);
    expect(stats.stdout).toMatch(/consumer c1: 0 in flight, alive/);

    const requeued = await runCli('worker/embedding/embedding-cli.ts', ['requeue'], env);
    expect(requeued.stdout).toContain(`Requeued 1 job(s) from ${keys.failed} to ${keys.queue}.`);
    // It fails again (FAIL400 is for good) and lands on the failed list once more.
    await expect.poll(() => redis.llen(keys.failed), { timeout: 10_000 }).toBe(1);
    expect(await redis.llen(keys.queue)).toBe(0);
    await worker.stop();
  }, 60_000);

  it('refuses queue keys without a shared hash tag, saying how to name them', async () => {
    const keys = ['embedding:queue', 'embedding:failed'];
    expect(keySlot(keys[0]!)).not.toBe(keySlot(`${keys[0]}:delayed`));
    const result = await runCli('worker/embedding/embedding-cli.ts', ['stats'], {
      REDIS_URL: url,
      EMBEDDING_QUEUE_KEY: keys[0],
      EMBEDDING_FAILED_KEY: keys[1],
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('EMBEDDING_QUEUE_KEY and EMBEDDING_FAILED_KEY must share a hash tag on a Redis Cluster');
    expect(result.stderr).toContain('{embedding}:queue and {embedding}:failed');
    const worker = startNodeProcess('worker/embedding/main.ts', {
      REDIS_URL: url,
      DATABASE_URL: db.url,
      EMBEDDING_QUEUE_KEY: '{a}:queue',
      EMBEDDING_FAILED_KEY: '{b}:failed',
      LOG_LEVEL: 'info',
    });
    processes.push(worker);
    expect(await worker.exited).not.toBe(0);
    expect(worker.output()).toContain('must share a hash tag on a Redis Cluster');
  }, 30_000);
});
