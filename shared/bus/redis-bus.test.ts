// Redis bus specifics beyond the shared contract (bus.contract.test.ts), against real Redis.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { redisUrl, uniquePrefix } from '../../test/support/services';
import { createRedisBus } from './redis-bus';
import { startPrivateRedis } from '../../test/support/private-services';
import { startTcpProxy } from '../../test/support/tcp-proxy';

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
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      const results = await Promise.allSettled([first, ...Array.from({ length: 10 }, (_, i) => bus.subscribe(`${prefix}${trial}:${i}`))]);
      failures += results.filter((r) => r.status === 'rejected').length;
      await bus.close();
    }
    expect(failures).toBe(0);
  });
});

describe('redis bus liveness', () => {
  // The subscriber's connection stays open but stops delivering (a silent TCP drop, a stuck
  // proxy): only the heartbeat can tell. The bus must replace the connection, report the
  // reconnect (so gateways catch up) and deliver again. (/ready while it is deaf: test/bus-liveness.test.ts.)
  it('replaces a subscription that went silent, reports it, and hears again', async () => {
    const logger = createLogger('test', 'silent');
    const redis = await startPrivateRedis();
    const proxy = await startTcpProxy(redis.port);
    const bus = createRedisBus(`redis://127.0.0.1:${proxy.port}`, logger, 'test-silent', { heartbeatMs: 100 });
    const publisher = createRedisBus(redis.url, logger, 'test-silent-pub', { heartbeatMs: 0 });
    try {
      const received: string[] = [];
      let reconnects = 0;
      bus.onMessage((_channel, message) => received.push(message));
      bus.onReconnect(() => reconnects++);
      await bus.subscribe('room');
      proxy.holdOn('goes-silent');
      await publisher.publish([{ channel: 'room', message: 'goes-silent' }]);
      const deadline = Date.now() + 5000;
      while (reconnects === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(reconnects).toBe(1);
      await bus.ping();
      await publisher.publish([{ channel: 'room', message: 'heard again' }]);
      const until = Date.now() + 2000;
      while (!received.includes('heard again') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(received).toContain('heard again');
    } finally {
      proxy.release();
      await bus.close();
      await publisher.close();
      await proxy.close();
      await redis.destroy();
    }
  });
});
