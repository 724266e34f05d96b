// Redis bus specifics beyond the shared contract (bus.contract.test.ts), against real Redis.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { redisUrl, uniquePrefix } from '../../test/support/services';
import { createRedisBus } from './redis-bus';

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
