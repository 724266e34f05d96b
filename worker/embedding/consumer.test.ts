// The embedding consumer in this process against real Redis, real PostgreSQL and a local
// HTTP server standing in for the embeddings API.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger';
import { createRedis, type Redis } from '../../shared/redis';
import { fakeVector, startEmbeddingsApi, type EmbeddingsApi } from '../../test/support/embeddings-api';
import { createTestDatabase, redisUrl, uniquePrefix, type TestDatabase } from '../../test/support/services';
import { startConsumer, type Consumer, type ConsumerOptions } from './consumer';
import { createPostEmbedder } from './embed-post';
import { createEmbeddingsClient } from './embeddings-client';
import { serializeJob } from './job';
import { queueKeys, type QueueKeys } from './keys';
import { enqueueEmbeddingJob } from './producer';

const logger = createLogger('test', 'silent');
let db: TestDatabase;
let api: EmbeddingsApi;
let redis: Redis;
let keys: QueueKeys;
const running: Array<{ consumer: Consumer; blocking: Redis }> = [];

interface StoredChunk {
  chunk_index: number;
  content: string;
  embedding: number[];
  model: string;
}

const stored = (postId: string | number) =>
  db.sql<StoredChunk[]>`SELECT chunk_index, content, embedding, model FROM post_embeddings WHERE post_id = ${String(postId)} ORDER BY chunk_index`;

async function failedEntries(): Promise<any[]> {
  return (await redis.lrange(keys.failed, 0, -1)).map((e) => JSON.parse(e));
}

async function queueIsDrained(consumerId = 'c1') {
  const [waiting, delayed, processing] = await Promise.all([redis.llen(keys.queue), redis.zcard(keys.delayed), redis.llen(keys.processing(consumerId))]);
  return waiting + delayed + processing;
}

async function start(overrides: Partial<ConsumerOptions> = {}, embedder: { chunkChars?: number; maxChunks?: number } = {}): Promise<Consumer> {
  const blocking = createRedis(redisUrl(), 'test-blocking');
  const consumer = await startConsumer({
    redis,
    blocking,
    keys,
    consumerId: 'c1',
    concurrency: 4,
    maxRetries: 3,
    backoffBaseMs: 50,
    backoffCapMs: 100,
    blockTimeoutMs: 200,
    retryPollMs: 50,
    heartbeatTtlMs: 5000,
    logger,
    process: createPostEmbedder({
      sql: db.sql,
      client: createEmbeddingsClient({ url: api.endpoint, model: 'test-model', apiKey: 'sk-test', timeoutMs: 2000 }),
      model: 'test-model',
      chunkChars: embedder.chunkChars ?? 200,
      chunkOverlap: 20,
      batchSize: 2,
      maxChunks: embedder.maxChunks ?? 50,
    }),
    ...overrides,
  });
  running.push({ consumer, blocking });
  return consumer;
}

async function stopAll() {
  for (const { consumer, blocking } of running.splice(0)) {
    await consumer.stop();
    blocking.disconnect();
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startEmbeddingsApi();
  redis = createRedis(redisUrl(), 'test');
});
afterEach(async () => {
  await stopAll();
  api.release();
  const prefix = keys.queue.slice(0, -'queue'.length);
  const leftovers = await redis.keys(`${prefix}*`);
  if (leftovers.length) await redis.del(...leftovers);
});
afterAll(async () => {
  await api.close();
  redis.disconnect();
  await db.drop();
});

// A fresh key prefix per test: nothing one test leaves behind reaches the next.
const freshKeys = () => {
  const prefix = uniquePrefix('embedding');
  keys = queueKeys(`${prefix}queue`, `${prefix}failed`);
};

describe('embedding consumer', () => {
  it("embeds a long post chunk by chunk and stores each chunk's vector", async () => {
    freshKeys();
    const content = Array.from({ length: 60 }, (_, i) => `Sentence number ${i} of the post.`).join(' ');
    await start();
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 101, title: 'Title', content });

    await expect.poll(async () => (await stored(101)).length, { timeout: 5000 }).toBeGreaterThan(5);
    await expect.poll(queueIsDrained).toBe(0);
    const chunks = await stored(101);
    expect(chunks.map((c) => c.chunk_index)).toEqual(chunks.map((_, i) => i));
    for (const chunk of chunks) {
      expect(chunk.content.length).toBeLessThanOrEqual(200);
      expect(chunk.embedding).toEqual(fakeVector(chunk.content));
      expect(chunk.model).toBe('test-model');
    }
    expect(chunks[0]!.content.startsWith('Title\n\nSentence number 0')).toBe(true);
    const request = api.requests.at(-1)!;
    expect(request.headers.authorization).toBe('Bearer sk-test');
    expect(request.json).toMatchObject({ model: 'test-model', input: expect.any(Array) });
    expect(request.json.input.length).toBeLessThanOrEqual(2);
    expect(await failedEntries()).toEqual([]);
  });

  it("replaces a post's vectors when its job runs again: no duplicates, no stale chunks", async () => {
    freshKeys();
    await start();
    const long = Array.from({ length: 40 }, (_, i) => `Line ${i} is here.`).join(' ');
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 'post-r', title: '', content: long });
    await expect.poll(async () => (await stored('post-r')).length, { timeout: 5000 }).toBeGreaterThan(2);
    const first = await stored('post-r');
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 'post-r', title: '', content: long });
    await expect.poll(queueIsDrained).toBe(0);
    expect(await stored('post-r')).toEqual(first);
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 'post-r', title: '', content: 'Now it is short.' });
    await expect.poll(async () => (await stored('post-r')).map((c) => c.content), { timeout: 5000 }).toEqual(['Now it is short.']);
  });

  it('keeps the version enqueued last when an older job finishes after a newer one', async () => {
    freshKeys();
    await start({ concurrency: 4 });
    const slowOld = `SLOW:400 ${Array.from({ length: 30 }, (_, i) => `Old line ${i}.`).join(' ')}`;
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 'race', title: '', content: slowOld });
    await sleep(5); // a later enqueued_at
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 'race', title: '', content: 'The new version.' });
    await expect.poll(queueIsDrained, { timeout: 5000 }).toBe(0);
    await expect.poll(() => api.inFlight()).toBe(0);
    await sleep(100);
    expect((await stored('race')).map((c) => c.content)).toEqual(['The new version.']);
    const [post] = await db.sql<{ chunks: number }[]>`SELECT chunks FROM embedded_posts WHERE post_id = 'race'`;
    expect(post!.chunks).toBe(1);
  });

  it('retries a failing call with backoff, then succeeds', async () => {
    freshKeys();
    await start({ maxRetries: 3 });
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 'flaky', title: '', content: 'FLAKY:t1:2 content' });
    await expect.poll(async () => (await stored('flaky')).length, { timeout: 5000 }).toBe(1);
    expect(api.requests.filter((r) => r.body.includes('FLAKY:t1')).length).toBe(3);
    await expect.poll(queueIsDrained).toBe(0);
    expect(await failedEntries()).toEqual([]);
  });

  it('moves a job to the failed list with the error once EMBEDDING_MAX_RETRIES are used', async () => {
    freshKeys();
    await start({ maxRetries: 2 });
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 'doomed', title: 'T', content: 'FAIL500 always' });
    await expect.poll(async () => (await failedEntries()).length, { timeout: 5000 }).toBe(1);
    const [entry] = await failedEntries();
    expect(entry).toMatchObject({
      job: { version: 1, post_id: 'doomed', title: 'T', content: 'FAIL500 always', retryCount: 2 },
      error: expect.stringContaining('embeddings API answered HTTP 500'),
      consumer: 'c1',
    });
    expect(api.requests.filter((r) => r.body.includes('FAIL500 always')).length).toBe(3);
    expect(await queueIsDrained()).toBe(0);
    expect(await stored('doomed')).toEqual([]);
  });

  it('keeps two byte-identical failing jobs apart while they wait for their retry: two in, two failed', async () => {
    freshKeys();
    const raw = JSON.stringify({ version: 1, post_id: 'twin', title: '', content: 'FAIL500 twin', enqueued_at: new Date().toISOString(), retryCount: 0 });
    await redis.lpush(keys.queue, raw, raw);
    await start({ maxRetries: 1 });
    await expect.poll(async () => (await failedEntries()).length, { timeout: 5000 }).toBe(2);
    expect(api.requests.filter((r) => r.body.includes('FAIL500 twin')).length).toBe(4);
    expect(await queueIsDrained()).toBe(0);
  });

  it('promotes a retry written before retries had ids of their own (a plain job in the delayed set)', async () => {
    freshKeys();
    const raw = JSON.stringify({ version: 1, post_id: 'old-retry', title: '', content: 'from before', enqueued_at: new Date().toISOString(), retryCount: 1 });
    await redis.zadd(keys.delayed, Date.now() - 1, raw);
    await start();
    await expect.poll(async () => (await stored('old-retry')).length, { timeout: 5000 }).toBe(1);
    expect(await failedEntries()).toEqual([]);
  });

  it('fails at once, without retries, when the API refuses the input (400) or the post is too long', async () => {
    freshKeys();
    await start({ maxRetries: 5 }, { maxChunks: 3 });
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 'bad-input', title: '', content: 'FAIL400 please' });
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 'huge', title: '', content: 'word '.repeat(1000) });
    await expect.poll(async () => (await failedEntries()).length, { timeout: 5000 }).toBe(2);
    const errors = (await failedEntries()).map((e) => `${e.job.post_id}: ${e.error}`).sort();
    expect(errors[0]).toMatch(/^bad-input: embeddings API answered HTTP 400/);
    expect(errors[1]).toMatch(/^huge: post too long: \d+ chunks of 200 characters, more than EMBEDDING_MAX_CHUNKS=3$/);
    expect(api.requests.filter((r) => r.body.includes('FAIL400 please')).length).toBe(1);
  });

  it('sends malformed jobs to the failed list with the reason, and goes on with the next', async () => {
    freshKeys();
    await start();
    await redis.lpush(keys.queue, 'this is not json');
    await redis.lpush(keys.queue, JSON.stringify({ version: 2, post_id: 1, title: '', content: 'x' }));
    await redis.lpush(keys.queue, JSON.stringify({ version: 1, post_id: 1, content: 'no title' }));
    await enqueueEmbeddingJob(redis, keys.queue, { post_id: 'after-junk', title: '', content: 'fine' });

    await expect.poll(async () => (await stored('after-junk')).length, { timeout: 5000 }).toBe(1);
    await expect.poll(async () => (await failedEntries()).length).toBe(3);
    const errors = (await failedEntries()).map((e) => e.error).sort();
    expect(errors).toEqual([
      'malformed job: not JSON',
      'malformed job: title: missing',
      'malformed job: version: unsupported version (this consumer reads version 1)',
    ]);
    expect((await failedEntries()).find((e) => e.error === 'malformed job: not JSON').job).toBe('this is not json');
  });

  it('never runs more than EMBEDDING_CONCURRENCY jobs at once', async () => {
    freshKeys();
    const peakBefore = api.peakInFlight();
    expect(peakBefore).toBeLessThanOrEqual(4);
    const consumer = await start({ concurrency: 2 });
    for (let i = 0; i < 6; i++) await enqueueEmbeddingJob(redis, keys.queue, { post_id: `slow-${i}`, title: '', content: `SLOW:150 post ${i}` });
    let peakSeen = 0;
    await expect
      .poll(
        async () => {
          peakSeen = Math.max(peakSeen, consumer.inFlight(), await redis.llen(keys.processing('c1')));
          return (await db.sql`SELECT DISTINCT post_id FROM post_embeddings WHERE post_id LIKE 'slow-%'`).length;
        },
        { timeout: 10_000, interval: 20 },
      )
      .toBe(6);
    expect(peakSeen).toBe(2);
    expect(api.inFlight()).toBe(0);
  });

  it('recovers the jobs a crashed run left in its own processing list', async () => {
    freshKeys();
    const jobs = ['rec-1', 'rec-2'].map((post_id) => serializeJob({ version: 1, post_id, title: '', content: `recovered ${post_id}`, retryCount: 0 }));
    await redis.lpush(keys.processing('c1'), ...jobs);
    await start();
    await expect.poll(async () => (await db.sql`SELECT DISTINCT post_id FROM post_embeddings WHERE post_id LIKE 'rec-%'`).length, { timeout: 5000 }).toBe(2);
    await expect.poll(queueIsDrained).toBe(0);
  });

  it('rescues the jobs of another consumer whose heartbeat expired', async () => {
    freshKeys();
    await redis.sadd(keys.consumers, 'ghost');
    await redis.lpush(keys.processing('ghost'), serializeJob({ version: 1, post_id: 'orphan', title: '', content: 'left behind', retryCount: 0 }));
    await start({ heartbeatTtlMs: 1000 });
    await expect.poll(async () => (await stored('orphan')).length, { timeout: 5000 }).toBe(1);
    expect(await redis.llen(keys.processing('ghost'))).toBe(0);
    expect(await redis.sismember(keys.consumers, 'ghost')).toBe(0);
  });

  it("leaves a live consumer's jobs alone", async () => {
    freshKeys();
    await redis.sadd(keys.consumers, 'busy');
    await redis.set(keys.heartbeat('busy'), 'now', 'PX', 60_000);
    await redis.lpush(keys.processing('busy'), 'a job busy is working on');
    await start({ heartbeatTtlMs: 1000 });
    await sleep(1500);
    expect(await redis.lrange(keys.processing('busy'), 0, -1)).toEqual(['a job busy is working on']);
  });

  it('stop() takes no new job and waits for the ones in flight', async () => {
    freshKeys();
    api.hold();
    const consumer = await start({ concurrency: 2 });
    for (let i = 0; i < 4; i++) await enqueueEmbeddingJob(redis, keys.queue, { post_id: `stop-${i}`, title: '', content: `HOLD ${i}` });
    await expect.poll(() => api.inFlight(), { timeout: 5000 }).toBe(2);
    const stopped = consumer.stop();
    await sleep(300);
    expect(consumer.inFlight()).toBe(2);
    api.release();
    await stopped;
    running.length = 0;
    expect((await db.sql`SELECT DISTINCT post_id FROM post_embeddings WHERE post_id LIKE 'stop-%'`).length).toBe(2);
    expect(await redis.llen(keys.queue)).toBe(2);
    expect(await redis.llen(keys.processing('c1'))).toBe(0);
    expect(await redis.sismember(keys.consumers, 'c1')).toBe(0);
  });
});
