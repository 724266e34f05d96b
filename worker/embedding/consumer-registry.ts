// Rescuer for consumers that died for good (a pod rescheduled under a new name never comes
// back to recover its own processing list). Every consumer keeps a heartbeat key alive;
// any consumer that finds another's heartbeat expired moves that one's jobs back to the queue.
import type { Logger } from '../../shared/logger';
import type { RedisClient } from '../../shared/redis';
import { startPeriodic } from '../outbox/maintenance/periodic';
import type { QueueKeys } from './keys';
import type { RedisQueue } from './redis-queue';

export async function beat(redis: RedisClient, keys: QueueKeys, consumerId: string, ttlMs: number): Promise<void> {
  await redis.multi().sadd(keys.consumers, consumerId).set(keys.heartbeat(consumerId), new Date().toISOString(), 'PX', ttlMs).exec();
}

export async function unregister(redis: RedisClient, keys: QueueKeys, consumerId: string): Promise<void> {
  await redis.multi().del(keys.heartbeat(consumerId)).srem(keys.consumers, consumerId).exec();
}

/** Recovers the processing lists of every other registered consumer whose heartbeat has expired. */
export async function rescueAbandoned(redis: RedisClient, keys: QueueKeys, queue: RedisQueue, selfId: string, logger: Logger): Promise<number> {
  let rescued = 0;
  for (const id of await redis.smembers(keys.consumers)) {
    if (id === selfId || (await redis.exists(keys.heartbeat(id))) === 1) continue;
    const moved = await queue.recover(id);
    await redis.srem(keys.consumers, id);
    if (moved > 0) logger.warn({ consumer: id, jobs: moved }, 'requeued jobs of a consumer whose heartbeat expired');
    rescued += moved;
  }
  return rescued;
}

/** Heartbeat every third of the TTL, and a rescue round every TTL. */
export function startRegistry(redis: RedisClient, keys: QueueKeys, queue: RedisQueue, consumerId: string, ttlMs: number, logger: Logger): () => Promise<void> {
  const stopBeat = startPeriodic('embedding-heartbeat', Math.max(100, Math.floor(ttlMs / 3)), () => beat(redis, keys, consumerId, ttlMs), logger);
  const stopRescue = startPeriodic('embedding-rescue', ttlMs, () => rescueAbandoned(redis, keys, queue, consumerId, logger), logger);
  return async () => {
    await Promise.all([stopBeat(), stopRescue()]);
  };
}
