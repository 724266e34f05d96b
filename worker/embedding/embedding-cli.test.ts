// `npm run embedding` run as its own process against real Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../shared/redis';
import { runCli } from '../../test/support/run-cli';
import { redisUrl, uniquePrefix } from '../../test/support/services';
import { failedEntry } from './failed-entry';
import { parseEmbeddingArgs } from './embedding-args';
import { queueKeys, type QueueKeys } from './keys';
import { UsageError } from '../../shared/cli/usage-error';

let redis: Redis;
let keys: QueueKeys;
const embedding = (...args: string[]) =>
  runCli('worker/embedding/embedding-cli.ts', args, { REDIS_URL: redisUrl(), EMBEDDING_QUEUE_KEY: keys.queue, EMBEDDING_FAILED_KEY: keys.failed });
const job = (post_id: string, retryCount: number) => ({ version: 1, post_id, title: '', content: `content of ${post_id}`, retryCount });

beforeAll(() => {
  redis = createRedis(redisUrl(), 'test');
  const prefix = uniquePrefix('embedding-cli');
  keys = queueKeys(`${prefix}queue`, `${prefix}failed`);
});
afterAll(async () => {
  const leftovers = await redis.keys(`${keys.queue.slice(0, -'queue'.length)}*`);
  if (leftovers.length) await redis.del(...leftovers);
  redis.disconnect();
});

describe('parseEmbeddingArgs', () => {
  it('reads each command and refuses bad arguments', () => {
    expect(parseEmbeddingArgs(['requeue'])).toEqual({ command: 'requeue', limit: null });
    expect(parseEmbeddingArgs(['requeue', '--limit', '10'])).toEqual({ command: 'requeue', limit: 10 });
    expect(parseEmbeddingArgs(['enqueue', '--post-id', '7', '--content', 'c'])).toEqual({ command: 'enqueue', postId: '7', title: '', content: 'c' });
    expect(parseEmbeddingArgs([])).toEqual({ command: 'help' });
    for (const [argv, message] of [
      [['requeu'], 'unknown command "requeu" (expected stats, requeue or enqueue)'],
      [['requeue', '--limit', '0'], '--limit must be a positive integer (got "0")'],
      [['enqueue', '--content', 'c'], 'enqueue: --post-id is required'],
      [['stats', '--verbose'], "stats: Unknown option '--verbose'"],
    ] as const) {
      expect(() => parseEmbeddingArgs(argv)).toThrow(UsageError);
      expect(() => parseEmbeddingArgs(argv)).toThrow(message);
    }
  });
});

describe('npm run embedding', () => {
  it('requeue: moves valid failed jobs back with retryCount 0, oldest first, and leaves the rest', async () => {
    await redis.lpush(keys.failed, failedEntry(job('old', 5), 'HTTP 500', 'c1'));
    await redis.lpush(keys.failed, failedEntry('not json at all', 'malformed job: not JSON', 'c1'));
    await redis.lpush(keys.failed, failedEntry(job('new', 5), 'HTTP 500', 'c1'));

    const result = await embedding('requeue');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`Requeued 2 job(s) from ${keys.failed} to ${keys.queue}.\nLeft 1 entry on ${keys.failed}: it holds no valid job (not JSON).\n`);
    // Consumers take from the right: the oldest failure comes back first.
    const queued = (await redis.lrange(keys.queue, 0, -1)).map((raw) => JSON.parse(raw));
    expect(queued.map((j) => [j.post_id, j.retryCount])).toEqual([
      ['new', 0],
      ['old', 0],
    ]);
    const left = (await redis.lrange(keys.failed, 0, -1)).map((raw) => JSON.parse(raw));
    expect(left).toHaveLength(1);
    expect(left[0].job).toBe('not json at all');
  });

  it('requeue --limit takes only the oldest n', async () => {
    await redis.del(keys.queue, keys.failed);
    for (const post of ['a', 'b', 'c']) await redis.lpush(keys.failed, failedEntry(job(post, 3), 'x', 'c1'));
    expect((await embedding('requeue', '--limit', '2')).stdout).toContain('Requeued 2 job(s)');
    expect((await redis.lrange(keys.queue, 0, -1)).map((raw) => JSON.parse(raw).post_id)).toEqual(['b', 'a']);
    expect((await redis.lrange(keys.failed, 0, -1)).map((raw) => JSON.parse(raw).job.post_id)).toEqual(['c']);
  });

  it('enqueue and stats: where the jobs are', async () => {
    await redis.del(keys.queue, keys.failed);
    expect((await embedding('enqueue', '--post-id', '42', '--title', 'Hi', '--content', 'hello')).stdout).toBe(
      `Queued post 42 on ${keys.queue} (1 waiting).\n`,
    );
    const [raw] = await redis.lrange(keys.queue, 0, -1);
    expect(JSON.parse(raw!)).toMatchObject({ version: 1, post_id: '42', title: 'Hi', content: 'hello', retryCount: 0 });
    await redis.lpush(keys.processing('w1'), 'job');
    await redis.sadd(keys.consumers, 'w1');

    const stats = await embedding('stats');
    expect(stats.code).toBe(0);
    expect(stats.stdout.split('\n')).toEqual([
      `${keys.queue}: 1 waiting`,
      `${keys.delayed}: 0 backing off before a retry`,
      `${keys.failed}: 0 failed`,
      'consumer w1: 1 in flight, heartbeat expired',
      '',
    ]);
  });

  it('exits 2 with a clear message on bad arguments', async () => {
    const result = await embedding('requeue', '--limit', 'many');
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: 'embedding: --limit must be a positive integer (got "many")\nRun `npm run embedding -- --help` for usage.\n',
    });
  });
});
