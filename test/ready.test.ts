// GET /ready answers one body shape on the gateway and on the workers (README: WebSocket
// protocol, HTTP on the same port): 200 {ready:true}, or 503 {ready:false, failed:{check: why}}.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../shared/bus/memory-bus';
import { loadConfig } from '../shared/config';
import { createLogger } from '../shared/logger';
import { readiness } from '../shared/metrics-server';
import { gatewayEnv } from '../gateway/config';
import { startGateway, type Gateway } from '../gateway/server';
import { createTestDatabase, redisUrl, type TestDatabase } from './support/services';

describe('GET /ready', () => {
  let db: TestDatabase;
  let gateway: Gateway;
  beforeAll(async () => {
    db = await createTestDatabase();
    const config = loadConfig(gatewayEnv, { DATABASE_URL: db.url, REDIS_URL: redisUrl(), PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    // PostgreSQL answers; the bus does not.
    const bus = { ...createMemoryBus(), ping: () => Promise.reject(new Error('bus is down')) };
    gateway = await startGateway(config, { sql: db.sql, bus, logger: createLogger('test', 'silent') });
  });
  afterAll(async () => {
    await gateway?.close();
    await db?.drop();
  });

  it('names each check that failed on the gateway, in the body the workers answer', async () => {
    const res = await fetch(`http://127.0.0.1:${gateway.port}/ready`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ready: false, failed: { bus: 'bus is down' } });
  });

  it('is {ready:true} with 200 when nothing failed, else 503 with the failures', () => {
    expect(readiness({})).toEqual({ status: 200, body: { ready: true } });
    expect(readiness({ redis: 'redis did not answer within 2000 ms' })).toEqual({
      status: 503,
      body: { ready: false, failed: { redis: 'redis did not answer within 2000 ms' } },
    });
  });
});
