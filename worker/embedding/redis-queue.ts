// The Redis side of the reliable queue. Every move of a job between lists is one atomic
// command, MULTI or script, so a crash at any point leaves each job in exactly one place:
// the queue, a consumer's processing list, the delayed set, or the failed list.
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../../shared/redis';
import type { QueueKeys } from './keys';

// KEYS[1] delayed set, KEYS[2] queue; ARGV[1] now (ms), ARGV[2] limit.
// Due retries go to the consumer end of the queue: they have waited already. A member is
// `<unique id>|<job>` (see retryLater); one without the prefix (a JSON job written before
// it) goes as it is.
const PROMOTE_DUE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, entry in ipairs(due) do
  redis.call('ZREM', KEYS[1], entry)
  local job = entry
  local bar = string.find(entry, '|', 1, true)
  if bar and string.sub(entry, 1, 1) ~= '{' then job = string.sub(entry, bar + 1) end
  redis.call('RPUSH', KEYS[2], job)
end
return #due`;

// KEYS[1] from list, KEYS[2] to list; ARGV[1] entry, ARGV[2] what to push, ARGV[3] 'left'|'right'.
// Moves only if the entry is still there, so two operators (or a consumer and a rescuer)
// never both move the same entry.
const MOVE_IF_PRESENT = `
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  if ARGV[3] == 'left' then redis.call('LPUSH', KEYS[2], ARGV[2]) else redis.call('RPUSH', KEYS[2], ARGV[2]) end
  return 1
end
return 0`;

export interface RedisQueue {
  /** Blocks up to `timeoutMs` for a job and moves it into this consumer's processing list. Use a dedicated connection. */
  take(blocking: RedisClient, timeoutMs: number): Promise<string | null>;
  /** The job is done: out of the processing list. */
  complete(raw: string): Promise<void>;
  /** Out of the processing list and into the delayed set as `next`, due at `dueAt` (ms); two equal jobs stay two. */
  retryLater(raw: string, next: string, dueAt: number): Promise<void>;
  /** Out of the processing list and onto the failed list as `entry`. */
  fail(raw: string, entry: string): Promise<void>;
  /** Moves every job in `consumerId`'s processing list back to the consumer end of the queue, oldest taken first. */
  recover(consumerId: string): Promise<number>;
  /** Puts `raw` back on the queue if it is still in this consumer's processing list. */
  release(raw: string): Promise<boolean>;
  /** This consumer's processing list. */
  inProcessing(): Promise<string[]>;
  /** Moves retries that are due back onto the queue. */
  promoteDue(now: number, limit: number): Promise<number>;
}

export function createRedisQueue(redis: RedisClient, keys: QueueKeys, consumerId: string): RedisQueue {
  const processing = keys.processing(consumerId);
  const settle = async (multi: ReturnType<RedisClient['multi']>) => {
    const results = await multi.exec();
    const failure = results?.find(([err]) => err);
    if (!results || failure) throw failure?.[0] ?? new Error('redis transaction aborted');
  };
  return {
    take: (blocking, timeoutMs) => blocking.blmove(keys.queue, processing, 'RIGHT', 'LEFT', timeoutMs / 1000),
    async complete(raw) {
      await redis.lrem(processing, 1, raw);
    },
    // A sorted set keeps one of equal members: each retry gets an id of its own.
    retryLater: (raw, next, dueAt) => settle(redis.multi().zadd(keys.delayed, dueAt, `${randomUUID()}|${next}`).lrem(processing, 1, raw)),
    fail: (raw, entry) => settle(redis.multi().lpush(keys.failed, entry).lrem(processing, 1, raw)),
    async recover(id) {
      let moved = 0;
      while ((await redis.lmove(keys.processing(id), keys.queue, 'LEFT', 'RIGHT')) !== null) moved++;
      return moved;
    },
    async release(raw) {
      return (await redis.eval(MOVE_IF_PRESENT, 2, processing, keys.queue, raw, raw, 'right')) === 1;
    },
    inProcessing: () => redis.lrange(processing, 0, -1),
    async promoteDue(now, limit) {
      return Number(await redis.eval(PROMOTE_DUE, 2, keys.delayed, keys.queue, now, limit));
    },
  };
}

/** Moves `entry` from the failed list to the back of the queue as `job`, if no one else did. */
export async function requeueFailedEntry(redis: RedisClient, keys: QueueKeys, entry: string, job: string): Promise<boolean> {
  return (await redis.eval(MOVE_IF_PRESENT, 2, keys.failed, keys.queue, entry, job, 'left')) === 1;
}
