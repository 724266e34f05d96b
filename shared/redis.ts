import { Redis, type RedisOptions } from 'ioredis';

export type { Redis };

/**
 * An ioredis client that reconnects forever with a capped delay. Commands issued while
 * disconnected wait in the offline queue, but fail after one retry so callers see errors.
 */
export function createRedis(url: string, connectionName: string, overrides: Pick<RedisOptions, 'enableReadyCheck' | 'autoResubscribe' | 'maxRetriesPerRequest'> = {}): Redis {
  return new Redis(url, {
    connectionName,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    enableAutoPipelining: false,
    // Notices a peer that vanished without closing the connection (the bus heartbeat covers the rest).
    keepAlive: 10_000,
    ...overrides,
  });
}
