// Redis bus specifics beyond the shared contract (bus.contract.test.ts), against real Redis.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { redisUrl, uniquePrefix } from '../../test/support/services';
import { createRedisBus } from './redis-bus';
import { startPrivateRedis } from '../../test/support/private-services';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy';
import type { Bus } from './bus';

/** Waits until `condition` holds or `timeoutMs` passed (the test's expect() then says which). */
async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await sleep(10);
}

/** A bus that reaches a private Redis through a TCP proxy the test controls, and a publisher straight to it. */
async function withProxiedBus(
  name: string,
  heartbeatMs: number,
  run: (ctx: { bus: Bus; publisher: Bus; proxy: TcpProxy; redisUrl: string }) => Promise<void>,
): Promise<void> {
  const logger = createLogger('test', 'silent');
  const redis = await startPrivateRedis();
  const proxy = await startTcpProxy(redis.port);
  const bus = createRedisBus(`redis://127.0.0.1:${proxy.port}`, logger, name, { heartbeatMs });
  const publisher = createRedisBus(redis.url, logger, `${name}-pub`, { heartbeatMs: 0 });
  try {
    await run({ bus, publisher, proxy, redisUrl: redis.url });
  } finally {
    proxy.release();
    await bus.close();
    await publisher.close();
    await proxy.close();
    await redis.destroy();
  }
}

describe('redis bus', () => {
  // The first joins on a fresh gateway subscribe while the subscriber connection is still in
  // its handshake. ioredis then wrote SUBSCRIBE before its ready check, the ready check failed
  // in subscriber mode and those subscribes were rejected: joins answered 'unavailable'.
  it('subscribes in a burst right after creation, whatever point of the handshake it hits', async () => {
    const logger = createLogger('test', 'silent');
    const prefix = uniquePrefix('bus-burst');
    let failures = 0;
    for (let trial = 0; trial < 100; trial++) {
      const bus = createRedisBus(redisUrl(), logger, 'test-burst');
      // The first subscribe starts the connection; the burst hits a random moment of its handshake.
      const first = bus.subscribe(`${prefix}first`);
      await sleep(Math.random() * 3);
      const results = await Promise.allSettled([first, ...Array.from({ length: 10 }, (_, i) => bus.subscribe(`${prefix}${trial}:${i}`))]);
      failures += results.filter((r) => r.status === 'rejected').length;
      await bus.close();
    }
    expect(failures).toBe(0);
  });

  // A subscribe that came while the connection was still subscribing its first channels was
  // answered when those were done, but its own channel was never sent: the room stayed deaf
  // for good, and nothing said so (the heartbeat kept coming). Seen in the soak run under CI load.
  it('subscribes (and unsubscribes) a channel asked for while the connection is subscribing the others', () =>
    withProxiedBus('test-late', 0, async ({ bus, publisher, proxy, redisUrl }) => {
      const received: string[] = [];
      bus.onMessage((channel, message) => received.push(`${channel}:${message}`));
      // Redis's answer to the first SUBSCRIBE is held: the connection is mid-way through it.
      proxy.holdOn('room-early');
      const early = bus.subscribe('room-early');
      const gone = bus.subscribe('room-gone');
      await waitFor(() => proxy.holding(), 5000);
      expect(proxy.holding()).toBe(true);
      const late = bus.subscribe('room-late');
      await bus.unsubscribe('room-gone');
      await sleep(50);
      proxy.release();
      await Promise.all([early, gone, late]);
      await publisher.publish([
        { channel: 'room-early', message: 'a' },
        { channel: 'room-late', message: 'b' },
      ]);
      await waitFor(() => received.length >= 2, 2000);
      expect(received.sort()).toEqual(['room-early:a', 'room-late:b']);
      expect(await publisher.publish([{ channel: 'room-gone', message: 'c' }])).toEqual([null]);
      const admin = new Redis(redisUrl);
      const [, listeners] = (await admin.call('PUBSUB', 'NUMSUB', 'room-gone')) as [string, number];
      await admin.quit();
      expect(Number(listeners)).toBe(0);
    }));
});

describe('redis bus reconnects', () => {
  // What Redis sends right behind its answer to the resubscription (a message published just
  // after it) was handed on before the bus reported the reconnect: a gateway took it as the
  // next event of a stream that had lost nothing, and delivered it ahead of what it had missed
  // while disconnected (a removal). Nothing may be handed on before the report.
  it('hands on nothing heard on a new connection before it reported the reconnect', () =>
    withProxiedBus('test-resync', 0, async ({ bus, publisher, proxy }) => {
      const events: string[] = [];
      bus.onMessage((_channel, message) => events.push(message));
      bus.onReconnect(() => events.push('reconnected'));
      await bus.subscribe('resync-room');
      // The new connection's SUBSCRIBE answer, and what follows it, is held and then delivered in one chunk.
      proxy.holdOn('resync-room');
      proxy.cut();
      await waitFor(() => proxy.holding(), 5000);
      expect(proxy.holding()).toBe(true);
      await publisher.publish([{ channel: 'resync-room', message: 'right behind' }]);
      await sleep(50);
      proxy.release();
      await waitFor(() => events.includes('reconnected'), 5000);
      await publisher.publish([{ channel: 'resync-room', message: 'later' }]);
      await waitFor(() => events.includes('later'), 2000);
      expect(events).toContain('reconnected');
      expect(events.indexOf('later')).toBeGreaterThan(events.indexOf('reconnected'));
      // Dropped (the rooms read everything after a reconnect back from PostgreSQL), or after the report.
      const behind = events.indexOf('right behind');
      expect(behind === -1 || behind > events.indexOf('reconnected'), events.join(', ')).toBe(true);
    }));
});

describe('redis bus liveness', () => {
  // The subscriber's connection stays open but stops delivering (a silent TCP drop, a stuck
  // proxy): only the heartbeat can tell. The bus must replace the connection, report the
  // reconnect (so gateways catch up) and deliver again. (/ready while it is deaf: test/bus-liveness.test.ts.)
  it('replaces a subscription that went silent, reports it, and hears again', () =>
    withProxiedBus('test-silent', 100, async ({ bus, publisher, proxy }) => {
      const received: string[] = [];
      let reconnects = 0;
      bus.onMessage((_channel, message) => received.push(message));
      bus.onReconnect(() => reconnects++);
      await bus.subscribe('room');
      proxy.holdOn('goes-silent');
      await publisher.publish([{ channel: 'room', message: 'goes-silent' }]);
      await waitFor(() => reconnects > 0, 5000);
      expect(reconnects).toBe(1);
      await bus.ping();
      await publisher.publish([{ channel: 'room', message: 'heard again' }]);
      await waitFor(() => received.includes('heard again'), 2000);
      expect(received).toContain('heard again');
    }));
});
