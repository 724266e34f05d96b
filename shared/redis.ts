import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { parseClusterUrl, type ClusterNode } from './redis-cluster';

export type { Redis };
/** One Redis, or a Redis Cluster: what the embedding queue runs on. */
export type RedisClient = Redis | Cluster;

type Overrides = Pick<RedisOptions, 'enableReadyCheck' | 'autoResubscribe' | 'maxRetriesPerRequest'>;
const reconnectDelay = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000);

/**
 * An ioredis client that reconnects forever with a capped delay. Commands issued while
 * disconnected wait in the offline queue, but fail after one retry so callers see errors.
 */
export function createRedis(url: string, connectionName: string, overrides: Overrides = {}): Redis {
  return new Redis(url, redisOptions(connectionName, overrides));
}

function redisOptions(connectionName: string, overrides: Overrides): RedisOptions {
  return {
    connectionName,
    maxRetriesPerRequest: 1,
    retryStrategy: reconnectDelay,
    enableAutoPipelining: false,
    // Notices a peer that vanished without closing the connection (the bus heartbeat covers the rest).
    keepAlive: 10_000,
    ...overrides,
  };
}

/**
 * createRedis, or for `redis+cluster://host:port,…` an ioredis Cluster client (commands go
 * to the master of their keys' slot; keys used together must share a hash tag).
 */
export function createRedisClient(url: string, connectionName: string, overrides: Overrides = {}): RedisClient {
  const cluster = parseClusterUrl(url);
  return cluster ? createRedisCluster(cluster.seeds, cluster.password, connectionName, overrides) : createRedis(url, connectionName, overrides);
}

/** An ioredis Cluster client with createRedis's settings on every node connection; it reconnects forever too. */
export function createRedisCluster(seeds: readonly ClusterNode[], password: string | undefined, connectionName: string, overrides: Overrides = {}): Cluster {
  const { retryStrategy: _perNode, ...options } = redisOptions(connectionName, overrides);
  return new Cluster([...seeds], {
    redisOptions: { ...options, ...(password ? { password } : {}) },
    clusterRetryStrategy: reconnectDelay,
  });
}

/** Every key matching `pattern`: SCAN on one Redis, or on every master of a cluster. */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
  }
  return keys;
}
