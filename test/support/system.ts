// The chat core in this test process, on real sockets: a fresh database, a gateway on a
// free port, and (optionally) a chat worker, all talking through real Redis.
import { createRedisBus } from '../../shared/bus/redis-bus';
import type { Bus } from '../../shared/bus/bus';
import { loadConfig } from '../../shared/config';
import { createSql, type Sql } from '../../shared/db/client';
import { createLogger } from '../../shared/logger';
import { gatewayEnv } from '../../gateway/config';
import { startGateway, type Gateway } from '../../gateway/server';
import { chatWorkerEnv } from '../../worker/config';
import { startChatWorker } from '../../worker/chat/chat-worker';
import { createTestDatabase, redisUrl, type TestDatabase } from './services';

export interface TestSystem {
  db: TestDatabase;
  sql: Sql;
  gateway: Gateway;
  port: number;
  bus: Bus;
  stop(): Promise<void>;
}

export async function startSystem(env: Record<string, string> = {}, options: { worker?: boolean } = {}): Promise<TestSystem> {
  const db = await createTestDatabase();
  const fullEnv = { DATABASE_URL: db.url, REDIS_URL: redisUrl(), PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env };
  const logger = createLogger('test', fullEnv.LOG_LEVEL);
  const gatewayConfig = loadConfig(gatewayEnv, fullEnv);
  const gatewayBus = createRedisBus(redisUrl(), logger, 'test-gateway', { heartbeatMs: gatewayConfig.BUS_HEARTBEAT_MS });
  const gateway = await startGateway(gatewayConfig, { sql: db.sql, bus: gatewayBus, logger });

  const stops: Array<() => Promise<unknown>> = [];
  if (options.worker ?? true) {
    const workerConfig = loadConfig(chatWorkerEnv, fullEnv);
    const workerSql = createSql(db.url, { max: 4 });
    const listenSql = createSql(db.url, { max: 1 });
    const workerBus = createRedisBus(redisUrl(), logger, 'test-worker');
    const worker = await startChatWorker(workerConfig, { sql: workerSql, listenSql, bus: workerBus, logger });
    stops.push(async () => {
      await worker.stop();
      await workerBus.close();
      await Promise.all([workerSql.end({ timeout: 1 }), listenSql.end({ timeout: 1 })]);
    });
  }
  return {
    db,
    sql: db.sql,
    gateway,
    port: gateway.port,
    bus: gatewayBus,
    async stop() {
      await gateway.close();
      for (const stop of stops) await stop();
      await gatewayBus.close();
      await db.drop();
    },
  };
}
