// The connections bench scenario (bench/scenarios/connections.ts) at a small scale, against
// real gateway and worker processes: sockets from two source addresses, all joined to one
// room, held idle, then every trickled message reaches every socket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConnections } from '../bench/scenarios/connections';
import { createTestDatabase, redisUrl, type TestDatabase } from './support/services';

describe('bench: connections scenario', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  it('connects, holds and reaches every socket, and reports what each costs', async () => {
    const result = await runConnections({
      sockets: 60,
      clients: 2,
      sql: db.sql,
      databaseUrl: db.url,
      redisUrl: redisUrl(),
      oursEnv: { RL_BUCKET_CAPACITY: '100000', RL_REFILL_MS: '1' },
      idleMs: 500,
      trickleMs: 1000,
      trickleRate: 5,
    });
    expect(result).toMatchObject({ socketsAsked: 60, sockets: 60, limitedBy: null });
    expect(result.trickle.sent).toBeGreaterThan(0);
    expect(result.trickle.missing).toBe(0);
    expect(result.trickle.deliveries).toBe(result.trickle.sent * 60);
    expect(result.connectsPerSec).toBeGreaterThan(0);
    expect(Number.isFinite(result.rssPerConnectionBytes) && Number.isFinite(result.heapPerConnectionBytes)).toBe(true);
    expect(result.idleCpuUsPerConnectionSec).toBeGreaterThanOrEqual(0);
  }, 60_000);
});
