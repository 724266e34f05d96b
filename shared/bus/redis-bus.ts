// Redis Pub/Sub bus. Publishing uses one connection (pipelined, so order holds);
// subscribing needs a connection of its own (shared/bus/redis-subscriber.ts, which keeps
// its channels subscribed and proves it with a heartbeat), created on first use.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../logger';
import { createRedis } from '../redis';
import type { Bus, BusHandler, BusMessage } from './bus';
import { createRedisSubscriber } from './redis-subscriber';

export interface RedisBusOptions {
  /** How often the subscription proves it is alive; 0 = no heartbeat. */
  heartbeatMs?: number;
  /** How long subscribe() waits for a connection that has its channels. */
  subscribeTimeoutMs?: number;
}

export function createRedisBus(url: string, logger: Logger, name = 'arcyou', options: RedisBusOptions = {}): Bus {
  const publisher = createRedis(url, `${name}-pub`);
  const handlers: BusHandler[] = [];
  const reconnectHandlers: Array<() => void> = [];
  publisher.on('error', (err) => logger.warn({ err }, 'redis publisher error'));

  const subscriber = createRedisSubscriber({
    url,
    name: `${name}-sub`,
    logger,
    sharded: false,
    heartbeatChannel: `arcyou:bus-heartbeat:${randomBytes(8).toString('hex')}`,
    publishHeartbeat: (channel, token) => publisher.publish(channel, token),
    heartbeatMs: options.heartbeatMs ?? 1000,
    subscribeTimeoutMs: options.subscribeTimeoutMs ?? 10_000,
    onMessage: (channel, message) => {
      for (const handler of handlers) handler(channel, message);
    },
    onResubscribed: () => {
      for (const handler of reconnectHandlers) handler();
    },
  });

  return {
    async publish(messages: readonly BusMessage[]) {
      if (messages.length === 0) return [];
      const pipeline = publisher.pipeline();
      for (const { channel, message } of messages) pipeline.publish(channel, message);
      let results: Awaited<ReturnType<typeof pipeline.exec>>;
      try {
        results = await pipeline.exec();
      } catch (err) {
        return messages.map(() => err as Error);
      }
      if (!results) return messages.map(() => new Error('redis pipeline was discarded'));
      return results.map(([err]) => err ?? null);
    },
    subscribe: (channel) => subscriber.subscribe(channel),
    unsubscribe: (channel) => subscriber.unsubscribe(channel),
    onMessage(handler) {
      handlers.push(handler);
    },
    onReconnect(handler) {
      reconnectHandlers.push(handler);
    },
    async ping() {
      await publisher.ping();
      if (!subscriber.live()) throw new Error('redis subscription is not live (reconnecting)');
    },
    async close() {
      await Promise.allSettled([publisher.quit(), subscriber.close()]);
      publisher.disconnect();
    },
  };
}
