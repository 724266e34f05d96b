// One Redis subscriber connection that keeps a set of channels subscribed: the part of a
// Redis bus that listens. The plain bus has one; the cluster bus one per master, with
// sharded Pub/Sub (SSUBSCRIBE).
//
// The subscription is ours to keep alive, not ioredis's: on every (re)connect this
// subscribes to every channel wanted and only then reports the reconnect (so catching up
// starts from a connection that hears everything). A heartbeat published to a channel of
// its own every `heartbeatMs` must come back: if it does not, the subscription is deaf
// (lost SUBSCRIBE, silent TCP drop, a slot moved away) — live() is false (readiness) and
// the connection is rebuilt.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../logger';
import { createRedis, type Redis } from '../redis';

export interface RedisSubscriberOptions {
  url: string;
  /** The connection's client name. */
  name: string;
  logger: Logger;
  /** SSUBSCRIBE (Redis Cluster sharded Pub/Sub): one command per channel, so that channels of different slots never share one. */
  sharded: boolean;
  /** Where this connection's heartbeat goes (for a shard: a channel of one of its slots). */
  heartbeatChannel: string;
  /** Publishes a heartbeat on the publishing connection. */
  publishHeartbeat(channel: string, token: string): Promise<unknown>;
  /** How often the subscription proves it is alive; 0 = no heartbeat. */
  heartbeatMs: number;
  /** How long subscribe() waits for a connection that has its channels. */
  subscribeTimeoutMs: number;
  onMessage(channel: string, message: string): void;
  /** A connection after the first has subscribed every wanted channel: messages may have been missed meanwhile. */
  onResubscribed(): void;
  /** Redis answered a subscribe with MOVED: the slot map this connection was chosen by is out of date. */
  onMoved?(): void;
  /** An error ioredis reported on the connection (besides logging it). */
  onConnectionError?(err: Error): void;
}

export interface RedisSubscriber {
  /** Resolves once messages on `channel` are being delivered. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** The channels this subscriber keeps. */
  readonly channels: ReadonlySet<string>;
  readonly heartbeatChannel: string;
  /** Has a connection with every wanted channel, and its heartbeat comes back. */
  live(): boolean;
  /** Starts over on a new connection (which reports a reconnect once it has every channel). */
  reconnect(): void;
  close(): Promise<void>;
}

/** A heartbeat that has not come back after this many intervals means the subscription is deaf. */
const DEAF_AFTER_BEATS = 5;
/** SUBSCRIBE arguments per command when re-subscribing everything. */
const SUBSCRIBE_CHUNK = 1000;

export function createRedisSubscriber(options: RedisSubscriberOptions): RedisSubscriber {
  const { logger, heartbeatMs, subscribeTimeoutMs, heartbeatChannel } = options;
  const wanted = new Set<string>();
  let subscriber: Redis | undefined;
  let closed = false;
  /** The current connection has subscribed every wanted channel. */
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

  const settleWaiters = (err?: Error) => {
    const waiters = syncWaiters;
    syncWaiters = [];
    for (const waiter of waiters) err ? waiter.reject(err) : waiter.resolve();
  };

  // A sharded SSUBSCRIBE answered with MOVED is never settled by ioredis (it emits 'moved'
  // instead), so every sharded (un)subscribe is bounded by a timeout.
  const bounded = <T>(promise: Promise<T>): Promise<T> => {
    if (!options.sharded) return promise;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis did not answer a sharded subscribe within ${subscribeTimeoutMs} ms`)), subscribeTimeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  };

  const subscribeOn = async (client: Redis, channels: string[]) => {
    if (!options.sharded) {
      for (let i = 0; i < channels.length; i += SUBSCRIBE_CHUNK) await client.subscribe(...channels.slice(i, i + SUBSCRIBE_CHUNK));
      return;
    }
    await bounded(Promise.all(channels.map((channel) => client.ssubscribe(channel))));
  };

  const unsubscribeOn = async (client: Redis, channels: string[]) => {
    if (!options.sharded) {
      await client.unsubscribe(...channels);
      return;
    }
    await bounded(Promise.all(channels.map((channel) => client.sunsubscribe(channel))));
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
        if (add.length > 0) await subscribeOn(client, add);
        for (const channel of add) here.add(channel);
        if (drop.length > 0) await unsubscribeOn(client, drop);
        for (const channel of drop) here.delete(channel);
        if (mine !== connection || closed) return;
      }
    } catch (err) {
      if (mine !== connection || closed) return;
      logger.warn({ err, connection: options.name }, 'redis subscriber could not subscribe; reconnecting');
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
      logger.info({ channels: wanted.size, connection: options.name }, 'redis subscriber reconnected and subscribed');
      options.onResubscribed();
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
        logger.warn(
          { silentMs: now - unsyncedSince, status: subscriber.status, connection: options.name },
          'redis subscriber has not resubscribed; replacing its connection',
        );
        unsyncedSince = now;
        replaceConnection();
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
      logger.warn(
        { silentMs: now - heartbeat.sentAt, connection: options.name },
        'redis subscription is deaf (heartbeat did not come back); replacing its connection',
      );
      deaf = true;
      unsyncedSince = now;
      heartbeat = null;
      replaceConnection();
      return;
    }
    if (heartbeat) return;
    const token = `${now}:${randomBytes(4).toString('hex')}`;
    options.publishHeartbeat(heartbeatChannel, token).then(
      () => {
        if (!heartbeat) heartbeat = { token, sentAt: now };
      },
      () => {}, // the publisher is down: the bus's ping() reports that
    );
  };

  /**
   * A new connection instead of the current one. Asking ioredis to reconnect is not
   * enough: a client whose handshake was swallowed can stay "ready" on a dead socket.
   */
  const replaceConnection = () => {
    const old = subscriber;
    subscriber = undefined;
    synced = false;
    connection++;
    old?.disconnect();
    getConnection();
  };

  const getConnection = (): Redis => {
    if (subscriber) return subscriber;
    // No ready check (INFO): ioredis 5.8.2+ may write a SUBSCRIBE issued during the handshake
    // before it, and INFO is then refused in subscriber mode ("Ready check failed"), failing
    // those subscribes (ioredis#2037). Pub/Sub does not need Redis to have finished loading.
    const client = createRedis(options.url, options.name, { enableReadyCheck: false, autoResubscribe: false });
    client.on('error', (err) => {
      logger.warn({ err, connection: options.name }, 'redis subscriber error');
      if (client === subscriber) options.onConnectionError?.(err);
    });
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
    client.on('moved', () => {
      if (current()) options.onMoved?.();
    });
    const onMessage = (channel: string, message: string) => {
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
      options.onMessage(channel, message);
    };
    client.on(options.sharded ? 'smessage' : 'message', onMessage);
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
    channels: wanted,
    heartbeatChannel,
    async subscribe(channel) {
      if (closed) throw new Error('bus is closed');
      wanted.add(channel);
      const client = getConnection();
      if (synced) {
        try {
          await subscribeOn(client, [channel]);
          return;
        } catch {
          // The connection dropped under us (or the slot moved): the next resync subscribes it.
        }
      }
      await whenSynced();
    },
    async unsubscribe(channel) {
      wanted.delete(channel);
      if (subscriber && synced) await unsubscribeOn(subscriber, [channel]);
    },
    live: () => !subscriber || (synced && !deaf),
    reconnect: () => {
      if (!closed && subscriber) replaceConnection();
    },
    async close() {
      closed = true;
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      settleWaiters(new Error('bus is closed'));
      await subscriber?.quit().catch(() => {});
      subscriber?.disconnect();
    },
  };
}
