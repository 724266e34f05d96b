// What `npm run embedding -- stats` reports: where the jobs are.
import { scanKeys, type RedisClient } from '../../shared/redis';
import type { QueueKeys } from './keys';

export interface ConsumerStats {
  id: string;
  /** Jobs in its processing list. */
  inFlight: number;
  /** Its heartbeat key exists. */
  alive: boolean;
}

export interface QueueStats {
  waiting: number;
  delayed: number;
  failed: number;
  consumers: ConsumerStats[];
}

const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');

export async function queueStats(redis: RedisClient, keys: QueueKeys): Promise<QueueStats> {
  const prefix = keys.processing('');
  const ids = new Set(await redis.smembers(keys.consumers));
  for (const key of await scanKeys(redis, `${escapeGlob(prefix)}*`)) ids.add(key.slice(prefix.length));

  const [waiting, delayed, failed] = await Promise.all([redis.llen(keys.queue), redis.zcard(keys.delayed), redis.llen(keys.failed)]);
  const consumers = await Promise.all(
    [...ids].sort().map(async (id) => ({ id, inFlight: await redis.llen(keys.processing(id)), alive: (await redis.exists(keys.heartbeat(id))) === 1 })),
  );
  return { waiting, delayed, failed, consumers };
}

export function formatQueueStats(keys: QueueKeys, stats: QueueStats): string {
  const lines = [
    `${keys.queue}: ${stats.waiting} waiting`,
    `${keys.delayed}: ${stats.delayed} backing off before a retry`,
    `${keys.failed}: ${stats.failed} failed`,
  ];
  if (stats.consumers.length === 0) lines.push('consumers: none registered');
  for (const c of stats.consumers) lines.push(`consumer ${c.id}: ${c.inFlight} in flight, ${c.alive ? 'alive' : 'heartbeat expired'}`);
  return lines.join('\n');
}
