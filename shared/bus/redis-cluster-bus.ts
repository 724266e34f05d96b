// The bus on Redis Cluster, with sharded Pub/Sub: a channel lives on the shard that serves
// its slot (SPUBLISH/SSUBSCRIBE), so each event crosses one shard instead of being
// broadcast to every node as a classic PUBLISH on a cluster is. With PUBSUB_MODE=perconv
// the rooms spread over the shards; in global mode the one channel sits on one shard.
//
// Publishing goes through an ioredis Cluster client (it routes each SPUBLISH to its slot's
// master; one connection per master, so a channel's messages keep their order). Listening
// is one subscriber connection per master (shared/bus/redis-subscriber.ts: resubscribe on
// every connect, heartbeat on a channel of that master's slots). The slot map is read
// every `heartbeatMs`; a channel whose slot moved (failover, resharding) is subscribed on
// its new master and the bus then reports a reconnect: the rooms read what they missed
// from PostgreSQL. Nothing heard on a moved channel goes on before that report.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { keySlot, SLOT_COUNT, type ClusterNode } from '../redis-cluster';
import type { Logger } from '../logger';
import { createRedisCluster } from '../redis';
import type { Bus, BusHandler, BusMessage } from './bus';
import type { RedisBusOptions } from './redis-bus';
import { createRedisSubscriber, type RedisSubscriber } from './redis-subscriber';

/** Slot ranges and the master (`host:port`) serving each. */
type SlotMap = Array<{ start: number; end: number; master: string }>;

export function createRedisClusterBus(
  seeds: readonly ClusterNode[],
  password: string | undefined,
  logger: Logger,
  name = 'arcyou',
  options: RedisBusOptions = {},
): Bus {
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const subscribeTimeoutMs = options.subscribeTimeoutMs ?? 10_000;
  const publisher = createRedisCluster(seeds, password, `${name}-pub`);
  publisher.on('error', (err) => logger.warn({ err }, 'redis cluster publisher error'));
  const handlers: BusHandler[] = [];
  const reconnectHandlers: Array<() => void> = [];
  const heartbeatId = randomBytes(8).toString('hex');
  /** Per master (`host:port`): its subscriber connection (with a heartbeat on one of its slots). */
  const shards = new Map<string, RedisSubscriber>();
  /** Per wanted channel: the master it is subscribed on. */
  const placed = new Map<string, string>();
  /** Channels being moved to another master: what is heard on them waits for the reconnect report. */
  const moving = new Set<string>();
  let slots: SlotMap | null = null;
  let closed = false;
  let refreshing: Promise<void> | null = null;
  let topologyTimer: NodeJS.Timeout | null = null;

  const reportReconnect = () => {
    for (const handler of reconnectHandlers) handler();
  };

  const masterOf = (map: SlotMap, channel: string): string | undefined => {
    const slot = keySlot(channel);
    return map.find((r) => r.start <= slot && slot <= r.end)?.master;
  };

  /** A channel on `master`'s slots for its heartbeat: the slot of a hash tag found by trying. */
  const heartbeatChannelFor = (map: SlotMap, master: string): string => {
    for (let n = 0; n < SLOT_COUNT * 8; n++) {
      const channel = `arcyou:bus-heartbeat:{${heartbeatId}-${n}}`;
      if (masterOf(map, channel) === master) return channel;
    }
    throw new Error(`no slot of ${master} found for its heartbeat`);
  };

  const shardFor = (map: SlotMap, master: string): RedisSubscriber => {
    const existing = shards.get(master);
    if (existing) return existing;
    if (closed) throw new Error('bus is closed');
    const shard: RedisSubscriber = createRedisSubscriber({
      url: `redis://${password ? `:${encodeURIComponent(password)}@` : ''}${master}`,
      name: `${name}-sub`,
      logger,
      sharded: true,
      heartbeatChannel: heartbeatChannelFor(map, master),
      publishHeartbeat: (channel, token) => publisher.spublish(channel, token),
      heartbeatMs,
      subscribeTimeoutMs,
      onMessage: (channel, message) => {
        // Only the current connection of the channel's master, and not while it moves.
        if (shards.get(master) !== shard || moving.has(channel) || placed.get(channel) !== master) return;
        for (const handler of handlers) handler(channel, message);
      },
      onResubscribed: reportReconnect,
      onMoved: () => void refresh(),
      // Redis pushes an unasked SUNSUBSCRIBE when a slot moves away; ioredis takes it for the
      // answer to a pending command and loses track ("Command queue state error"). What this
      // connection is subscribed to is then unknown: start it over and read the slot map.
      onConnectionError: (err) => {
        if (!/Command queue state error/.test(err.message) || shards.get(master) !== shard) return;
        logger.warn({ err, master }, 'redis cluster subscriber lost track of its subscriptions; reconnecting');
        shard.reconnect();
        void refresh();
      },
    });
    shards.set(master, shard);
    return shard;
  };

  const readSlots = async (): Promise<SlotMap> => {
    const reply = await publisher.cluster('SLOTS');
    return reply.flatMap(([start, end, master]) => (master ? [{ start, end, master: `${master[0]}:${master[1]}` }] : []));
  };

  /** Reads the slot map, moves channels whose slot changed master, and drops subscribers of nodes that serve nothing now. */
  const refresh = (): Promise<void> => {
    refreshing ??= (async () => {
      try {
        const map = await readSlots();
        if (closed) return;
        slots = map;
        // A shard whose heartbeat slot moved away (resharding) would never sync again: its
        // channels go to a new connection for that master, with a heartbeat on its slots now.
        const rebuilt = new Set<string>();
        for (const [master, shard] of shards) {
          if (masterOf(map, shard.heartbeatChannel) === master) continue;
          rebuilt.add(master);
          shards.delete(master);
          void shard.close();
        }
        const moves: Array<Promise<string | null>> = [];
        for (const [channel, master] of placed) {
          const owner = masterOf(map, channel);
          // Still moving: a move that failed before is tried again, also when the slot went back.
          if (owner && (owner !== master || moving.has(channel) || rebuilt.has(master))) moves.push(move(map, channel, master, owner));
        }
        if (moves.length > 0) {
          logger.info({ channels: moves.length }, 'redis cluster slots moved; subscribing their channels on their new masters');
          const moved = (await Promise.all(moves)).filter((channel) => channel !== null);
          if (closed) return;
          // Reported before what was heard on them goes on again: the rooms read back what they missed.
          if (moved.length > 0) reportReconnect();
          for (const channel of moved) moving.delete(channel);
        }
        const masters = new Set(map.map((r) => r.master));
        for (const [master, shard] of shards) {
          if (!masters.has(master) && shard.channels.size === 0) {
            shards.delete(master);
            void shard.close();
          }
        }
      } catch (err) {
        logger.warn({ err }, 'could not read the redis cluster slot map');
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  };

  /**
   * Subscribes `channel` on its new master; resolves to it once done, or to null if that
   * failed (it is then placed on `from` again, so that the next read of the slot map tries again).
   */
  const move = async (map: SlotMap, channel: string, from: string, to: string): Promise<string | null> => {
    moving.add(channel);
    placed.set(channel, to);
    if (from !== to)
      await shards
        .get(from)
        ?.unsubscribe(channel)
        .catch(() => {}); // its node may be gone
    try {
      const shard = shardFor(map, to);
      await shard.subscribe(channel);
      if (placed.get(channel) === to) return channel;
      // Unsubscribed (or placed anew) meanwhile: not wanted on this shard.
      await shard.unsubscribe(channel).catch(() => {});
      return null;
    } catch (err) {
      logger.warn({ err, channel, master: to }, 'could not subscribe a moved channel on its new master; trying again');
      await shards
        .get(to)
        ?.unsubscribe(channel)
        .catch(() => {});
      if (placed.get(channel) === to) placed.set(channel, from);
      return null;
    }
  };

  /** The slot map; the first read is tried again (a node may fail it for a moment) for up to subscribeTimeoutMs. */
  const currentSlots = async (): Promise<SlotMap> => {
    const deadline = Date.now() + subscribeTimeoutMs;
    for (let delayMs = 50; !slots && !closed; delayMs = Math.min(delayMs * 2, 1000)) {
      await refresh();
      if (slots || Date.now() + delayMs >= deadline) break;
      await sleep(delayMs);
    }
    if (!slots) throw new Error('redis cluster slot map is not known (no node answered)');
    if (!topologyTimer && !closed) {
      // Read every heartbeat, or every second without one: a failover must be followed in any case.
      topologyTimer = setInterval(() => void refresh(), heartbeatMs || 1000);
      topologyTimer.unref();
    }
    return slots;
  };

  return {
    async publish(messages: readonly BusMessage[]) {
      // One call per message: a cluster pipeline may only hold one slot's keys. ioredis
      // writes them in call order on each master's connection, so a channel keeps its order.
      return Promise.all(
        messages.map(({ channel, message }) =>
          publisher.spublish(channel, message).then(
            () => null,
            (err: Error) => err,
          ),
        ),
      );
    },
    async subscribe(channel) {
      if (closed) throw new Error('bus is closed');
      for (let attempt = 1; ; attempt++) {
        const map = await currentSlots();
        // A channel placed already stays where it is: refresh() moves it when its slot moves.
        const master = placed.get(channel) ?? masterOf(map, channel);
        if (!master) throw new Error(`redis cluster: no master serves the slot of ${channel}`);
        placed.set(channel, master);
        try {
          const shard = shardFor(map, master);
          await shard.subscribe(channel);
          if (placed.get(channel) === master) return;
          if (!placed.has(channel)) {
            await shard.unsubscribe(channel).catch(() => {}); // unsubscribed meanwhile
            return;
          }
          // Moved meanwhile: wait for it on its new master.
        } catch (err) {
          if (!placed.has(channel)) return; // unsubscribed meanwhile
          if (closed || attempt >= 3) throw err;
          await refresh(); // the slot may have moved meanwhile
        }
        if (attempt >= 3) throw new Error(`redis cluster: ${channel} kept moving while being subscribed`);
      }
    },
    async unsubscribe(channel) {
      const master = placed.get(channel);
      placed.delete(channel);
      moving.delete(channel);
      if (master) await shards.get(master)?.unsubscribe(channel);
    },
    onMessage(handler) {
      handlers.push(handler);
    },
    onReconnect(handler) {
      reconnectHandlers.push(handler);
    },
    async ping() {
      await publisher.ping();
      for (const [master, shard] of shards) {
        if (shard.channels.size > 0 && !shard.live()) throw new Error(`redis subscription on ${master} is not live (reconnecting)`);
      }
      if (moving.size > 0) throw new Error('redis cluster channels are moving to new masters');
    },
    async close() {
      closed = true;
      if (topologyTimer) clearInterval(topologyTimer);
      await Promise.allSettled([publisher.quit(), ...[...shards.values()].map((s) => s.close())]);
      publisher.disconnect();
    },
  };
}
