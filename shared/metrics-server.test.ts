// The workers' HTTP face: liveness always answers; readiness names each dependency that
// does not answer (real services, and real dead ports for the failures).
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl, redisUrl } from '../test/support/services';
import { createSql, type Sql } from './db/client';
import { createLogger } from './logger';
import { createRegistry } from './metrics';
import { startMetricsServer, type MetricsServer } from './metrics-server';
import { createRedis, type Redis } from './redis';

const logger = createLogger('test', 'silent');

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('metrics server', () => {
  let sql: Sql;
  let redis: Redis;
  let deadSql: Sql;
  let deadRedis: Redis;
  let up: MetricsServer;
  let down: MetricsServer;
  beforeAll(async () => {
    sql = createSql(databaseUrl(), { max: 1 });
    redis = createRedis(redisUrl(), 'test-ready');
    const port = await deadPort();
    deadSql = createSql(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 1 });
    deadRedis = createRedis(`redis://127.0.0.1:${port}`, 'test-ready-dead');
    deadRedis.on('error', () => {});
    const registry = createRegistry({ processMetrics: true });
    up = await startMetricsServer({ host: '127.0.0.1', port: 0, registry, logger, checks: { postgres: () => sql`SELECT 1`, redis: () => redis.ping() } });
    down = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      logger,
      checkTimeoutMs: 1500,
      checks: { postgres: () => deadSql`SELECT 1`, redis: () => deadRedis.ping() },
    });
  });
  afterAll(async () => {
    await Promise.all([up.close(), down.close()]);
    await Promise.all([sql.end(), deadSql.end({ timeout: 0 })]);
    redis.disconnect();
    deadRedis.disconnect();
  });

  it('answers /health, and /ready when PostgreSQL and Redis answer', async () => {
    expect(await (await fetch(`http://127.0.0.1:${up.port}/health`)).json()).toEqual({ ok: true });
    const ready = await fetch(`http://127.0.0.1:${up.port}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });
  });

  it('answers /ready with 503 naming each dependency that is down, while /health stays up', async () => {
    const ready = await fetch(`http://127.0.0.1:${down.port}/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { ready: boolean; failed: Record<string, string> };
    expect(body.ready).toBe(false);
    expect(Object.keys(body.failed).sort()).toEqual(['postgres', 'redis']);
    expect((await fetch(`http://127.0.0.1:${down.port}/health`)).status).toBe(200);
  });

  it('serves process metrics at /metrics and 404 elsewhere', async () => {
    const res = await fetch(`http://127.0.0.1:${up.port}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('process_cpu_user_seconds_total');
    expect((await fetch(`http://127.0.0.1:${up.port}/nope`)).status).toBe(404);
  });
});
