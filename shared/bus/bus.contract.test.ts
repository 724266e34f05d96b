// The bus contract (shared/bus/bus.ts), run against every implementation: Redis Pub/Sub
// on a real Redis, sharded Pub/Sub on a real Redis Cluster (3 masters, started here), and
// the in-process bus. Anything the gateway and the workers rely on belongs here, so that
// `npm start` (in-process) behaves like the deployed system (Redis).
//
// A pair is what one message crosses: for Redis, a worker's bus and a gateway's bus
// (two connections each, as in two processes); in-process, the one bus both share.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { redisUrl, uniquePrefix } from '../../test/support/services';
import { startRedisCluster, type PrivateRedisCluster } from '../../test/support/redis-cluster';
import type { Bus } from './bus';
import { createMemoryBus } from './memory-bus';
import { createRedisBus } from './redis-bus';
import { parseClusterUrl } from '../redis-cluster';
import { createRedisClusterBus } from './redis-cluster-bus';
import { createRoomBus, type RoomBus } from './room-bus';

interface BusPair {
  publisher: Bus;
  subscriber: Bus;
}

interface Implementation {
  start?(): Promise<void>;
  stop?(): Promise<void>;
  pair(): BusPair;
}

const logger = createLogger('bus-contract', 'silent');

let cluster: PrivateRedisCluster | undefined;
const clusterBus = (name: string) => {
  const { seeds, password } = parseClusterUrl(`redis+cluster://${cluster!.seeds}`)!;
  return createRedisClusterBus(seeds, password, logger, name);
};

const implementations: Array<[string, Implementation]> = [
  [
    'redis',
    { pair: () => ({ publisher: createRedisBus(redisUrl(), logger, 'contract-pub'), subscriber: createRedisBus(redisUrl(), logger, 'contract-sub') }) },
  ],
  [
    'redis cluster (sharded)',
    {
      start: async () => {
        cluster = await startRedisCluster();
      },
      stop: async () => cluster?.destroy(),
      pair: () => ({ publisher: clusterBus('contract-pub'), subscriber: clusterBus('contract-sub') }),
    },
  ],
  [
    'memory',
    {
      pair: () => {
        const bus = createMemoryBus();
        return { publisher: bus, subscriber: bus };
      },
    },
  ],
];

/** Every (channel, message) a bus hands to its handlers, and a way to wait for a given one. */
function record(bus: Bus) {
  const received: Array<[string, string]> = [];
  bus.onMessage((channel, message) => received.push([channel, message]));
  return {
    received,
    async waitFor(message: string, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (!received.some(([, m]) => m === message)) {
        if (Date.now() > deadline) throw new Error(`"${message}" was not delivered; got ${JSON.stringify(received.slice(-5))}`);
        await sleep(5);
      }
    },
  };
}

describe.each(implementations)('bus contract: %s', (_name, implementation) => {
  const open: Bus[] = [];
  beforeAll(async () => implementation.start?.(), 60_000);
  afterAll(async () => implementation.stop?.());
  const setup = () => {
    const pair = implementation.pair();
    open.push(pair.publisher, pair.subscriber);
    const prefix = uniquePrefix('bus');
    return { ...pair, channel: (name: string) => prefix + name };
  };

  afterEach(async () => {
    await Promise.all([...new Set(open.splice(0))].map((bus) => bus.close()));
  });

  it('delivers published messages to a subscriber in publish order, within and across publish calls', async () => {
    const { publisher, subscriber, channel } = setup();
    const room = channel('room');
    const inbox = record(subscriber);
    await subscriber.subscribe(room);

    const batch = Array.from({ length: 50 }, (_, i) => ({ channel: room, message: `m${i}` }));
    await publisher.publish(batch);
    for (let i = 50; i < 60; i++) await publisher.publish([{ channel: room, message: `m${i}` }]);
    await inbox.waitFor('m59');

    expect(inbox.received).toEqual(Array.from({ length: 60 }, (_, i) => [room, `m${i}`]));
  });

  it('keeps each channel\u2019s publish order when one publish call mixes channels', async () => {
    // Across channels there is no order to keep: on a cluster, two channels can live on two shards.
    const { publisher, subscriber, channel } = setup();
    const [a, b] = [channel('a'), channel('b')];
    const inbox = record(subscriber);
    await subscriber.subscribe(a);
    await subscriber.subscribe(b);

    await publisher.publish(Array.from({ length: 40 }, (_, i) => ({ channel: i % 2 ? b : a, message: String(i) })));
    await inbox.waitFor('38');
    await inbox.waitFor('39');

    const of = (c: string) => inbox.received.filter(([ch]) => ch === c).map(([, m]) => Number(m));
    expect(of(a)).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i));
    expect(of(b)).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i + 1));
  });

  it('delivers only the channels subscribed to', async () => {
    const { publisher, subscriber, channel } = setup();
    const [mine, other] = [channel('mine'), channel('other')];
    const inbox = record(subscriber);
    await subscriber.subscribe(mine);

    await publisher.publish([
      { channel: other, message: 'not for us' },
      { channel: mine, message: 'for us' },
      { channel: other, message: 'not for us either' },
      { channel: mine, message: 'end' },
    ]);
    await inbox.waitFor('end');

    expect(inbox.received).toEqual([
      [mine, 'for us'],
      [mine, 'end'],
    ]);
  });

  it('stops delivering a channel once unsubscribe resolves, and delivers it again after a new subscribe', async () => {
    const { publisher, subscriber, channel } = setup();
    const [leaving, staying] = [channel('leaving'), channel('staying')];
    const inbox = record(subscriber);
    await subscriber.subscribe(leaving);
    await subscriber.subscribe(staying);
    await publisher.publish([{ channel: leaving, message: 'before' }]);
    await inbox.waitFor('before');

    await subscriber.unsubscribe(leaving);
    await publisher.publish([
      { channel: leaving, message: 'after unsubscribe' },
      { channel: staying, message: 'marker' },
    ]);
    await inbox.waitFor('marker');
    expect(inbox.received.map(([, m]) => m)).toEqual(['before', 'marker']);

    await subscriber.subscribe(leaving);
    await publisher.publish([{ channel: leaving, message: 'back' }]);
    await inbox.waitFor('back');
    expect(inbox.received.map(([, m]) => m)).toEqual(['before', 'marker', 'back']);
  });

  it('subscribing twice to a channel still delivers each message once', async () => {
    const { publisher, subscriber, channel } = setup();
    const room = channel('room');
    const inbox = record(subscriber);
    await subscriber.subscribe(room);
    await subscriber.subscribe(room);

    await publisher.publish([
      { channel: room, message: 'once' },
      { channel: room, message: 'end' },
    ]);
    await inbox.waitFor('end');

    expect(inbox.received.map(([, m]) => m)).toEqual(['once', 'end']);
  });

  it('hands every message to every handler', async () => {
    const { publisher, subscriber, channel } = setup();
    const room = channel('room');
    const first = record(subscriber);
    const second = record(subscriber);
    await subscriber.subscribe(room);

    await publisher.publish([{ channel: room, message: 'hello' }]);
    await first.waitFor('hello');
    await second.waitFor('hello');

    expect(first.received).toEqual([[room, 'hello']]);
    expect(second.received).toEqual([[room, 'hello']]);
  });

  it('resolves publish with one result per message: null when published, subscribers or not', async () => {
    const { publisher, subscriber, channel } = setup();
    await subscriber.subscribe(channel('heard'));

    const results = await publisher.publish([
      { channel: channel('heard'), message: 'x' },
      { channel: channel('nobody listens'), message: 'y' },
      { channel: channel('heard'), message: 'z' },
    ]);

    expect(results).toEqual([null, null, null]);
    expect(await publisher.publish([])).toEqual([]);
  });

  it('answers ping while open and refuses it after close', async () => {
    const { publisher } = setup();
    await expect(publisher.ping()).resolves.toBeUndefined();

    await publisher.close();
    await expect(publisher.ping()).rejects.toThrow();
  });

  it('after close: publish reports every message as failed, subscribe is refused, nothing is delivered, close again is harmless', async () => {
    const { publisher, subscriber, channel } = setup();
    const room = channel('room');
    const inbox = record(subscriber);
    await subscriber.subscribe(room);
    await publisher.publish([{ channel: room, message: 'before close' }]);
    await inbox.waitFor('before close');

    await subscriber.close();
    await publisher.close();

    const results = await publisher.publish([
      { channel: room, message: 'after close' },
      { channel: room, message: 'after close 2' },
    ]);
    expect(results).toHaveLength(2);
    for (const result of results) expect(result).toBeInstanceOf(Error);
    await expect(subscriber.subscribe(channel('late'))).rejects.toThrow();
    await expect(publisher.close()).resolves.toBeUndefined();

    await sleep(50);
    expect(inbox.received.map(([, m]) => m)).toEqual(['before close']);
  });
});

// The bus addressed by room (room-bus.ts), over every implementation, in both modes.
describe.each(
  implementations.flatMap(([name, implementation]) => (['global', 'perconv'] as const).map((mode) => [`${name}, ${mode}`, implementation, mode] as const)),
)('room bus contract: %s', (_name, implementation, mode) => {
  const open: RoomBus[] = [];
  beforeAll(async () => implementation.start?.(), 60_000);
  afterAll(async () => implementation.stop?.());
  afterEach(async () => {
    await Promise.all([...new Set(open.splice(0))].map((bus) => bus.close()));
  });
  const setup = async () => {
    const pair = implementation.pair();
    const publisher = createRoomBus(pair.publisher, mode);
    const subscriber = createRoomBus(pair.subscriber, mode);
    open.push(publisher, subscriber);
    const prefix = uniquePrefix('room');
    const heard: string[] = [];
    subscriber.onEvent((frame) => {
      if (frame.startsWith(prefix)) heard.push(frame.slice(prefix.length));
    });
    await subscriber.start();
    const event = (roomId: string, text: string) => ({ roomId, frame: `${prefix}${roomId}:${text}` });
    const waitFor = async (text: string) => {
      const deadline = Date.now() + 3000;
      while (!heard.includes(text)) {
        if (Date.now() > deadline) throw new Error(`"${text}" was not heard; got ${JSON.stringify(heard.slice(-5))}`);
        await sleep(5);
      }
    };
    return { publisher, subscriber, heard, event, waitFor, mode };
  };

  it('delivers a subscribed room\u2019s events in order; other rooms\u2019 only in global mode, where every room travels together', async () => {
    const { publisher, subscriber, heard, event, waitFor } = await setup();
    await subscriber.subscribeRoom('a');
    const results = await publisher.publish([event('a', '1'), event('b', '1'), event('a', '2'), event('b', '2'), event('a', 'end')]);
    expect(results).toEqual([null, null, null, null, null]);
    await waitFor('a:end');
    if (mode === 'global') await waitFor('b:2');
    expect(heard.filter((h) => h.startsWith('a:'))).toEqual(['a:1', 'a:2', 'a:end']);
    expect(heard.filter((h) => h.startsWith('b:'))).toEqual(mode === 'global' ? ['b:1', 'b:2'] : []);
  });

  it('after unsubscribeRoom: perconv stops the room\u2019s events, global goes on hearing them (one channel for all)', async () => {
    const { publisher, subscriber, heard, event, waitFor } = await setup();
    await subscriber.subscribeRoom('a');
    await subscriber.subscribeRoom('c');
    await subscriber.unsubscribeRoom('a');
    await publisher.publish([event('a', 'after'), event('c', 'marker')]);
    await waitFor('c:marker');
    if (mode === 'global') await waitFor('a:after');
    expect(heard.includes('a:after')).toBe(mode === 'global');
  });
});
