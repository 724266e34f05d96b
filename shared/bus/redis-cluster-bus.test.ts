// The Redis Cluster bus on a real cluster (3 masters, a replica each): what the contract
// suite cannot show — channels spread over the shards with sharded Pub/Sub, and a master
// killed and replaced by its replica.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { startRedisCluster, type PrivateRedisCluster } from '../../test/support/redis-cluster';
import { until } from '../../test/support/bus-faults';
import type { Bus } from './bus';
import { roomChannel } from './channels';
import { keySlot, parseClusterUrl } from '../redis-cluster';
import { createRedisClusterBus } from './redis-cluster-bus';

const logger = createLogger('cluster-bus-test', (process.env.TEST_LOG as 'info') ?? 'silent');

describe('redis cluster bus', () => {
  let cluster: PrivateRedisCluster;
  const open: Bus[] = [];
  const admins: Redis[] = [];
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterEach(async () => {
    await Promise.all(open.splice(0).map((bus) => bus.close()));
  });
  afterAll(async () => {
    await Promise.all(admins.map((a) => a.quit().catch(() => {})));
    await cluster?.destroy();
  });

  const bus = () => {
    const { seeds, password } = parseClusterUrl(`redis+cluster://${cluster.seeds}`)!;
    const created = createRedisClusterBus(seeds, password, logger, 'cluster-test', { heartbeatMs: 200 });
    open.push(created);
    return created;
  };
  const node = (port: number) => {
    const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: false });
    admin.on('error', () => {});
    admins.push(admin);
    return admin;
  };
  const rooms = (n: number) => Array.from({ length: n }, () => roomChannel(randomUUID()));
  const inbox = (subscriber: Bus) => {
    const got = new Map<string, string[]>();
    subscriber.onMessage((channel, message) => got.set(channel, [...(got.get(channel) ?? []), message]));
    return got;
  };

  /** A publisher, and a subscriber of `n` new rooms that records what it hears and counts its reconnects. */
  const subscribedRooms = async (n: number) => {
    const [publisher, subscriber] = [bus(), bus()];
    const got = inbox(subscriber);
    let reconnects = 0;
    subscriber.onReconnect(() => reconnects++);
    const channels = rooms(n);
    for (const channel of channels) await subscriber.subscribe(channel);
    return { publisher, subscriber, got, reconnects: () => reconnects, channels };
  };

  it('computes the slot Redis computes for a key or channel (hash tags included)', async () => {
    const keys = [
      'a',
      'chat:message',
      roomChannel(randomUUID()),
      '{user1000}.following',
      'foo{}{bar}',
      'foo{{bar}}zap',
      'foo{bar}{zap}',
      '{',
      'x{y',
      '방:{한국어}',
      'emoji😀',
      '{embedding}:queue',
    ];
    for (let i = 0; i < 200; i++) keys.push(`arcyou:bus-heartbeat:{${i.toString(36)}-${i * 7919}}`);
    const admin = node(cluster.nodes[0]!.port);
    const slots = await Promise.all(keys.map((key) => admin.cluster('KEYSLOT', key) as Promise<number>));
    expect(keys.map(keySlot)).toEqual(slots);
  });

  it('subscribes each room channel on the master of its slot, with sharded Pub/Sub only, and delivers them all', async () => {
    const [publisher, subscriber] = [bus(), bus()];
    const got = inbox(subscriber);
    const channels = rooms(30);
    for (const channel of channels) await subscriber.subscribe(channel);
    await publisher.publish(channels.map((channel) => ({ channel, message: 'hello' })));
    await until('every room heard', () => channels.every((c) => got.get(c)?.length === 1), 5000);

    const masters = [...new Set(channels.map((c) => cluster.masterOf(keySlot(c))))];
    expect(masters.length, 'masters holding the rooms').toBe(3);
    for (const port of masters) {
      const admin = node(port);
      const sharded = (await admin.call('PUBSUB', 'SHARDCHANNELS', 'conv:*')) as string[];
      expect(sharded.sort()).toEqual(channels.filter((c) => cluster.masterOf(keySlot(c)) === port).sort());
      expect(await admin.call('PUBSUB', 'CHANNELS', 'conv:*'), 'classic Pub/Sub channels').toEqual([]);
    }
  });

  it('a first subscribe whose slot-map read fails (a node refusing CLUSTER SLOTS for a moment) waits and reads it again', async () => {
    const [publisher, subscriber] = [bus(), bus()];
    await subscriber.ping(); // its cluster client is connected: what fails now is the read itself
    const got = inbox(subscriber);
    const admins = cluster.nodes.map((n) => node(n.port));
    const allow = (rule: string) => Promise.all(admins.map((admin) => admin.call('ACL', 'SETUSER', 'default', rule)));
    await allow('-cluster|slots');
    try {
      const [channel] = rooms(1);
      const subscribed = subscriber.subscribe(channel!).then(
        () => 'subscribed',
        (err: Error) => err.message,
      );
      await sleep(300);
      await allow('+cluster|slots');
      expect(await subscribed).toBe('subscribed');
      await publisher.publish([{ channel: channel!, message: 'after the refusal' }]);
      await until('the room heard', () => got.get(channel!)?.length === 1, 5000);
    } finally {
      await allow('+cluster|slots');
    }
  });

  it('after resharding moves a room\u2019s slot and a shard\u2019s heartbeat slot to another master: a reconnect is reported and every room is heard, the ones left on the old master too', async () => {
    const { publisher, subscriber, got, reconnects, channels } = await subscribedRooms(30);
    const from = cluster.masterOf(keySlot(channels[0]!));
    const onFrom = channels.filter((c) => cluster.masterOf(keySlot(c)) === from);
    const to = cluster.masterOf(keySlot(channels.find((c) => cluster.masterOf(keySlot(c)) !== from)!));
    const [heartbeat] = (await node(from).call('PUBSUB', 'SHARDCHANNELS', 'arcyou:bus-heartbeat:*')) as string[];
    expect(heartbeat, 'the subscriber\u2019s heartbeat channel on that master').toBeDefined();
    const moved = onFrom[0]!;
    const stayed = onFrom.filter((c) => keySlot(c) !== keySlot(moved) && keySlot(c) !== keySlot(heartbeat!));
    expect(stayed.length, 'rooms left on the old master').toBeGreaterThan(0);

    await cluster.moveSlots([keySlot(moved), keySlot(heartbeat!)], to);
    await until('a reconnect reported', () => reconnects() > 0, 10_000);
    // Past the time a shard without its heartbeat is found deaf (5 beats of 200 ms).
    await sleep(2000);
    await until(
      'ping answering',
      async () =>
        subscriber.ping().then(
          () => true,
          () => false,
        ),
      15_000,
    );
    await until(
      'the moved room and the rooms left behind heard',
      async () => {
        const missing = [moved, ...stayed].filter((c) => !got.get(c)?.includes('after'));
        if (missing.length === 0) return true;
        await publisher.publish(missing.map((channel) => ({ channel, message: 'after' })));
        await sleep(100);
        return false;
      },
      10_000,
    );
  }, 60_000);

  it('after a master is killed and its replica promoted: readiness fails meanwhile, a reconnect is reported, and every room is heard again', async () => {
    const { publisher, subscriber, got, reconnects, channels } = await subscribedRooms(30);
    await publisher.publish(channels.map((channel) => ({ channel, message: 'before' })));
    await until('every room heard before', () => channels.every((c) => got.get(c)?.length === 1), 5000);

    const victim = channels[0]!;
    const killing = cluster.killMasterOf(keySlot(victim));
    await until(
      'ping failing while the killed master\u2019s rooms are unheard',
      async () =>
        subscriber.ping().then(
          () => false,
          () => true,
        ),
      10_000,
      20,
    );
    const killed = await killing;
    await until('a reconnect reported', () => reconnects() > 0, 20_000);
    await until(
      'ping answering again',
      async () =>
        subscriber.ping().then(
          () => true,
          () => false,
        ),
      20_000,
    );
    expect(cluster.masterOf(keySlot(victim))).not.toBe(killed);

    // The publisher finds the new master too (ioredis refreshes its slot map on the error).
    await until(
      'every room heard after the failover',
      async () => {
        const missing = channels.filter((c) => !got.get(c)?.includes('after'));
        if (missing.length === 0) return true;
        await publisher.publish(missing.map((channel) => ({ channel, message: 'after' })));
        await sleep(100);
        return false;
      },
      20_000,
    );
  }, 60_000);
});
