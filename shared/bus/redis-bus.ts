// Redis Pub/Sub bus. Publishing uses one connection (pipelined, so order holds);
// subscribing needs a connection of its own, created on first use.
//
// The subscription is ours to keep alive, not ioredis's: on every (re)connect this bus
// subscribes to every channel it wants and only then reports the reconnect (so catching
// up starts from a connection that hears everything). A heartbeat published to a channel
// of its own every `heartbeatMs` must come back: if it does not, the subscription is
// deaf (lost SUBSCRIBE, silent TCP drop) — ping() fails (readiness) and the connection
// is rebuilt.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../logger';
import { createRedis, type Redis } from '../redis';
import type { Bus, BusHandler, BusMessage } from './bus';

export interface RedisBusOptions {
  /** How often the subscription proves it is alive; 0 = no heartbeat. */
  heartbeatMs?: number;
  /** How long subscribe() waits for a connection that has its channels. */
  subscribeTimeoutMs?: number;
}

/** A heartbeat that has not come back after this many intervals means the subscription is deaf. */
const DEAF_AFTER_BEATS = 5;
/** SUBSCRIBE arguments per command when re-subscribing everything. */
const SUBSCRIBE_CHUNK = 1000;

export function createRedisBus(url: string, logger: Logger, name = 'arcyou', options: RedisBusOptions = {}): Bus {
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const subscribeTimeoutMs = options.subscribeTimeoutMs ?? 10_000;
  const publisher = createRedis(url, `${name}-pub`);
  const heartbeatChannel = `arcyou:bus-heartbeat:${randomBytes(8).toString('hex')}`;
  const wanted = new Set<string>();
  const handlers: BusHandler[] = [];
  const reconnectHandlers: Array<() => void> = [];
  let subscriber: Redis | undefined;
  let closed = false;
  /** The current subscriber connection has subscribed every wanted channel. */
  let synced = false;
  let everSynced = false;
  /** Bumped per connection attempt, so a resync of a connection that has since dropped is ignored. */
  let connection = 0;
  let syncWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  let heartbeat: { token: string; sentAt: number } | null = null;
  /** When the subscriber last received anything: a connection busy with a backlog is not deaf. */
  let lastMessageAt = 0;
  /** Since when the subscriber has been without a synced connection (null: it has one). */
  let unsyncedSince: number | null = null;
  let deaf = false;
  let heartbeatTimer: NodeJS.Timeout | null = null;

  publisher.on('error', (err) => logger.warn({ err: err.message }, 'redis publisher error'));

  const settleWaiters = (err?: Error) => {
    const waiters = syncWaiters;
    syncWaiters = [];
    for (const waiter of waiters) err ? waiter.reject(err) : waiter.resolve();
  };

  const resync = async (client: Redis) => {
    const mine = ++connection;
    try {
      // Rounds until this connection has exactly what is wanted: subscribe() and
      // unsubscribe() calls made meanwhile only changed `wanted` (the callers of subscribe()
      // wait for this resync, which must not end without their channels).
      const here = new Set<string>();
      for (;;) {
        const add = [heartbeatChannel, ...wanted].filter((channel) => !here.has(channel));
        const drop = [...here].filter((channel) => channel !== heartbeatChannel && !wanted.has(channel));
        if (add.length === 0 && drop.length === 0) break;
        for (let i = 0; i < add.length; i += SUBSCRIBE_CHUNK) await client.subscribe(...add.slice(i, i + SUBSCRIBE_CHUNK));
        for (const channel of add) here.add(channel);
        if (drop.length > 0) await client.unsubscribe(...drop);
        for (const channel of drop) here.delete(channel);
        if (mine !== connection || closed) return;
      }
    } catch (err) {
      if (mine !== connection || closed) return;
      logger.warn({ err: (err as Error).message }, 'redis subscriber could not subscribe; reconnecting');
      client.disconnect(true);
      return;
    }
    if (mine !== connection || closed) return;
    synced = true;
    unsyncedSince = null;
    deaf = false;
    heartbeat = null;
    settleWaiters();
    if (everSynced) {
      logger.info({ channels: wanted.size }, 'redis subscriber reconnected and subscribed');
      for (const handler of reconnectHandlers) handler();
    }
    everSynced = true;
  };

  let lastCheck = Date.now();
  const checkHeartbeat = () => {
    const now = Date.now();
    const late = now - lastCheck > 2 * heartbeatMs;
    lastCheck = now;
    if (!subscriber) return;
    if (!synced) {
      // A reconnect whose handshake was swallowed can leave ioredis waiting on a dead
      // connection (or not retrying at all): start a fresh one.
      unsyncedSince ??= now;
      if (!late && now - unsyncedSince > DEAF_AFTER_BEATS * heartbeatMs) {
        logger.warn({ silentMs: now - unsyncedSince, status: subscriber.status }, 'redis subscriber has not resubscribed; replacing its connection');
        unsyncedSince = now;
        replaceSubscriber();
      }
      return;
    }
    if (late) {
      // This process was busy (or paused): the heartbeat may be sitting unread. Start over.
      heartbeat = null;
      return;
    }
    const deafAfterMs = DEAF_AFTER_BEATS * heartbeatMs;
    if (heartbeat && now - heartbeat.sentAt > deafAfterMs && now - lastMessageAt > deafAfterMs) {
      logger.warn({ silentMs: now - heartbeat.sentAt }, 'redis subscription is deaf (heartbeat did not come back); replacing its connection');
      deaf = true;
      unsyncedSince = now;
      heartbeat = null;
      replaceSubscriber();
      return;
    }
    if (heartbeat) return;
    const token = `${now}:${randomBytes(4).toString('hex')}`;
    publisher.publish(heartbeatChannel, token).then(
      () => {
        if (!heartbeat) heartbeat = { token, sentAt: now };
      },
      () => {}, // the publisher is down: ping() reports that
    );
  };

  /**
   * A new subscriber connection instead of the current one. Asking ioredis to reconnect is
   * not enough: a client whose handshake was swallowed can stay "ready" on a dead socket.
   */
  const replaceSubscriber = () => {
    const old = subscriber;
    subscriber = undefined;
    synced = false;
    connection++;
    old?.disconnect();
    getSubscriber();
  };

  const getSubscriber = (): Redis => {
    if (subscriber) return subscriber;
    // No ready check (INFO): ioredis 5.8.2+ may write a SUBSCRIBE issued during the handshake
    // before it, and INFO is then refused in subscriber mode ("Ready check failed"), failing
    // those subscribes (ioredis#2037). Pub/Sub does not need Redis to have finished loading.
    const client = createRedis(url, `${name}-sub`, { enableReadyCheck: false, autoResubscribe: false });
    client.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
    const current = () => client === subscriber;
    client.on('ready', () => {
      if (current()) void resync(client);
    });
    client.on('close', () => {
      if (!current()) return;
      synced = false;
      unsyncedSince ??= Date.now();
      connection++;
    });
    client.on('message', (channel: string, message: string) => {
      if (!current()) return;
      lastMessageAt = Date.now();
      if (channel === heartbeatChannel) {
        if (heartbeat?.token === message) heartbeat = null;
        return;
      }
      // Heard on a new connection before its resubscription was reported (it can come in
      // the same chunk as the SUBSCRIBE answer): the rooms do not know yet that they missed
      // something and would take it as the next event. Dropped: after the report they read
      // everything they missed, this included, back from PostgreSQL.
      if (everSynced && !synced) return;
      for (const handler of handlers) handler(channel, message);
    });
    subscriber = client;
    if (heartbeatMs > 0 && !heartbeatTimer) {
      heartbeatTimer = setInterval(checkHeartbeat, heartbeatMs);
      heartbeatTimer.unref();
    }
    return client;
  };

  /** Resolves once a connection has subscribed everything wanted (now, or after the next reconnect). */
  const whenSynced = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        syncWaiters = syncWaiters.filter((w) => w !== waiter);
        reject(new Error(`redis subscription not ready within ${subscribeTimeoutMs} ms`));
      }, subscribeTimeoutMs);
      syncWaiters.push(waiter);
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
    async subscribe(channel) {
      if (closed) throw new Error('bus is closed');
      wanted.add(channel);
      const client = getSubscriber();
      if (synced) {
        try {
          await client.subscribe(channel);
          return;
        } catch {
          // The connection dropped under us: the next resync subscribes it.
        }
      }
      await whenSynced();
    },
    async unsubscribe(channel) {
      wanted.delete(channel);
      if (subscriber && synced) await subscriber.unsubscribe(channel);
    },
    onMessage(handler) {
      handlers.push(handler);
    },
    onReconnect(handler) {
      reconnectHandlers.push(handler);
    },
    async ping() {
      await publisher.ping();
      if (subscriber && (!synced || deaf)) throw new Error('redis subscription is not live (reconnecting)');
    },
    async close() {
      closed = true;
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      settleWaiters(new Error('bus is closed'));
      await Promise.allSettled([publisher.quit(), subscriber?.quit()]);
      publisher.disconnect();
      subscriber?.disconnect();
    },
  };
}
