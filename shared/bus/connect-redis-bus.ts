// The Redis bus a URL names: one Redis (redis://, rediss://) or a Redis Cluster with
// sharded Pub/Sub (redis+cluster://host:port,…).
import type { Logger } from '../logger';
import type { Bus } from './bus';
import { parseClusterUrl } from '../redis-cluster';
import { createRedisBus, type RedisBusOptions } from './redis-bus';
import { createRedisClusterBus } from './redis-cluster-bus';

export function connectRedisBus(url: string, logger: Logger, name: string, options: RedisBusOptions = {}): Bus {
  const cluster = parseClusterUrl(url);
  return cluster ? createRedisClusterBus(cluster.seeds, cluster.password, logger, name, options) : createRedisBus(url, logger, name, options);
}
