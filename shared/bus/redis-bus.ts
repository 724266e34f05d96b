// Redis Pub/Sub bus. Publishing uses one connection (pipelined, so order holds);
// subscribing needs a connection of its own, created on first use.
import type { Logger } from '../logger';
import { createRedis, type Redis } from '../redis';
import type { Bus, BusHandler, BusMessage } from './bus';

export function createRedisBus(url: string, logger: Logger, name = 'arcyou'): Bus {
  const publisher = createRedis(url, `${name}-pub`);
  let subscriber: Redis | undefined;
  const handlers: BusHandler[] = [];
  const reconnectHandlers: Array<() => void> = [];
  let closed = false;

  publisher.on('error', (err) => logger.warn({ err: err.message }, 'redis publisher error'));

  const getSubscriber = (): Redis => {
    if (subscriber) return subscriber;
    // No ready check (INFO): ioredis 5.8.2+ may write a SUBSCRIBE issued during the handshake
    // before it, and INFO is then refused in subscriber mode ("Ready check failed"), failing
    // those subscribes (ioredis#2037). Pub/Sub does not need Redis to have finished loading.
    const client = createRedis(url, `${name}-sub`, { enableReadyCheck: false });
    let wasReady = false;
    client.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
    client.on('ready', () => {
      // ioredis re-subscribes by itself; anything published while we were away is gone.
      if (wasReady && !closed) {
        logger.info('redis subscriber reconnected');
        for (const handler of reconnectHandlers) handler();
      }
      wasReady = true;
    });
    client.on('message', (channel: string, message: string) => {
      for (const handler of handlers) handler(channel, message);
    });
    subscriber = client;
    return client;
  };

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
    async subscribe(channel) {
      await getSubscriber().subscribe(channel);
    },
    async unsubscribe(channel) {
      if (subscriber) await subscriber.unsubscribe(channel);
    },
    onMessage(handler) {
      handlers.push(handler);
    },
    onReconnect(handler) {
      reconnectHandlers.push(handler);
    },
    async ping() {
      await publisher.ping();
    },
    async close() {
      closed = true;
      await Promise.allSettled([publisher.quit(), subscriber?.quit()]);
      publisher.disconnect();
      subscriber?.disconnect();
    },
  };
}
