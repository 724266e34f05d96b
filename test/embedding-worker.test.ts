// The embedding worker as its own process (`npm run worker:embedding`): killed with jobs
// in flight it loses none, and SIGTERM lets the jobs in flight finish.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../shared/redis';
import { queueKeys, type QueueKeys } from '../worker/embedding/keys';
import { enqueueEmbeddingJob } from '../worker/embedding/producer';
import { logProblems, startNodeProcess, type RunningProcess } from './support/child-process';
import { startEmbeddingsApi, type EmbeddingsApi } from './support/embeddings-api';
import { createTestDatabase, redisUrl, uniquePrefix, type TestDatabase } from './support/services';

let db: TestDatabase;
let api: EmbeddingsApi;
let redis: Redis;
const processes: RunningProcess[] = [];

function startWorker(keys: QueueKeys, consumerId: string, env: Record<string, string> = {}): Promise<RunningProcess> {
  const proc = startNodeProcess('worker/embedding/main.ts', {
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl(),
    EMBEDDING_QUEUE_KEY: keys.queue,
    EMBEDDING_FAILED_KEY: keys.failed,
    EMBEDDING_CONSUMER_ID: consumerId,
    EMBEDDING_API_URL: api.endpoint,
    EMBEDDING_MODEL: 'test-model',
    EMBEDDING_CONCURRENCY: '3',
    EMBEDDING_BLOCK_TIMEOUT_MS: '200',
    EMBEDDING_BACKOFF_BASE_MS: '50',
    EMBEDDING_BACKOFF_CAP_MS: '100',
    EMBEDDING_RETRY_POLL_MS: '50',
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    ...env,
  });
  processes.push(proc);
  return proc.waitForOutput(/embedding worker started/).then(() => proc);
}

const embeddedPosts = async (prefix: string) =>
  (await db.sql<{ post_id: string }[]>`SELECT post_id FROM embedded_posts WHERE post_id LIKE ${`${prefix}%`} ORDER BY post_id`).map((r) => r.post_id);

async function queueState(keys: QueueKeys, consumerId: string) {
  const [waiting, processing, delayed, failed] = await Promise.all([
    redis.llen(keys.queue),
    redis.llen(keys.processing(consumerId)),
    redis.zcard(keys.delayed),
    redis.llen(keys.failed),
  ]);
  return { waiting, processing, delayed, failed };
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startEmbeddingsApi();
  redis = createRedis(redisUrl(), 'test');
});
afterAll(async () => {
  for (const proc of processes) if (proc.alive()) proc.child.kill('SIGKILL');
  await api.close();
  redis.disconnect();
  await db.drop();
});

describe('embedding worker process', () => {
  it('loses no job when killed with jobs in flight: a new process with the same consumer id finishes them all', async () => {
    const prefix = uniquePrefix('embedding-crash');
    const keys = queueKeys(`${prefix}queue`, `${prefix}failed`);
    const posts = Array.from({ length: 8 }, (_, i) => `crash-${i}`);
    api.hold();
    const first = await startWorker(keys, 'crashy');
    for (const post of posts) await enqueueEmbeddingJob(redis, keys.queue, { post_id: post, title: post, content: `HOLD body of ${post}` });

    // Three jobs are in flight (the API holds them), five still wait on the queue.
    await expect.poll(() => queueState(keys, 'crashy'), { timeout: 10_000 }).toEqual({ waiting: 5, processing: 3, delayed: 0, failed: 0 });
    await expect.poll(() => api.inFlight(), { timeout: 5000 }).toBe(3);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    expect(await queueState(keys, 'crashy')).toEqual({ waiting: 5, processing: 3, delayed: 0, failed: 0 });
    expect(await embeddedPosts('crash-')).toEqual([]);

    api.release();
    const second = await startWorker(keys, 'crashy');
    await second.waitForOutput(/requeued jobs left in this consumer's processing list by an earlier run/);
    await expect.poll(() => embeddedPosts('crash-'), { timeout: 15_000 }).toEqual(posts);
    await expect.poll(() => queueState(keys, 'crashy')).toEqual({ waiting: 0, processing: 0, delayed: 0, failed: 0 });
    expect(await second.stop()).toBe(0);
    expect(logProblems(second.output())).toEqual({ crashes: [], errors: [] });
  });

  it('on SIGTERM takes no new job, finishes the ones in flight, and exits 0', async () => {
    const prefix = uniquePrefix('embedding-term');
    const keys = queueKeys(`${prefix}queue`, `${prefix}failed`);
    api.hold();
    const worker = await startWorker(keys, 'graceful', { EMBEDDING_CONCURRENCY: '2' });
    for (let i = 0; i < 5; i++) await enqueueEmbeddingJob(redis, keys.queue, { post_id: `term-${i}`, title: '', content: `HOLD term ${i}` });
    await expect.poll(() => api.inFlight(), { timeout: 10_000 }).toBe(2);

    worker.child.kill('SIGTERM');
    await worker.waitForOutput(/embedding worker stopping/);
    await sleep(400); // longer than one blocking pop: it would have taken more by now
    expect(worker.alive()).toBe(true);
    expect(await redis.llen(keys.queue)).toBe(3);
    api.release();

    expect(await worker.exited).toBe(0);
    expect(worker.output()).toMatch(/embedding worker stopped/);
    expect((await embeddedPosts('term-')).length).toBe(2);
    expect(await queueState(keys, 'graceful')).toEqual({ waiting: 3, processing: 0, delayed: 0, failed: 0 });
    expect(await redis.sismember(keys.consumers, 'graceful')).toBe(0);
    expect(logProblems(worker.output())).toEqual({ crashes: [], errors: [] });
  });

  it('refuses to start on bad configuration, naming the variable', async () => {
    const keys = queueKeys(`${uniquePrefix('embedding-config')}queue`, 'unused');
    const proc = startNodeProcess('worker/embedding/main.ts', {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
      EMBEDDING_QUEUE_KEY: keys.queue,
      EMBEDDING_CONCURRENCY: 'lots',
      EMBEDDING_CHUNK_OVERLAP: '5000',
    });
    processes.push(proc);
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain('EMBEDDING_CONCURRENCY must be an integer from 1 to 256 (got "lots")');
  });
});
