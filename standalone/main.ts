// `npm start`: the chat system in one process, with nothing else to install. Without
// DATABASE_URL it runs an embedded PostgreSQL; without REDIS_URL the gateway and the
// chat worker talk over the in-process bus. Migrates, seeds the demo room, prints where
// to connect. SIGTERM/SIGINT drain the gateway, stop the worker, then PostgreSQL.
import { join, resolve } from 'node:path';
import type { Bus } from '../shared/bus/bus';
import { createMemoryBus } from '../shared/bus/memory-bus';
import { connectRedisBus } from '../shared/bus/connect-redis-bus';
import { loadConfig, type ConfigOf } from '../shared/config';
import { createSql } from '../shared/db/client';
import { createListenSql } from '../shared/db/listen-sql';
import { migrate } from '../shared/db/migrate';
import { DEMO_ROOM, DEMO_USERS } from '../shared/demo-room';
import { createLogger, type Logger } from '../shared/logger';
import { createRegistry } from '../shared/metrics';
import { runMain, runUntilSignal } from '../shared/process';
import type { StopStack } from '../shared/stop-stack';
import { realKeyInProduction } from '../gateway/config';
import { startGateway } from '../gateway/server';
import { startChatWorker } from '../worker/chat/chat-worker';
import { createOutboxWorkerMetrics } from '../worker/metrics';
import { DEV_KEY_FILE, devServerKey } from './dev-server-key';
import { renderBanner } from './banner';
import { standaloneEnv } from './config';
import { seedDemoRoom } from './demo-seed';
import { startEmbeddedPostgres } from './embedded-postgres';

type StandaloneConfig = ConfigOf<typeof standaloneEnv>;

async function start(config: StandaloneConfig, logger: Logger, stack: StopStack, signal: AbortSignal): Promise<string> {
  const embedded = config.DATABASE_URL
    ? null
    : await startEmbeddedPostgres({ dataDir: join(resolve(config.ARCYOU_DATA_DIR), 'postgres'), port: config.EMBEDDED_PG_PORT, logger });
  if (embedded) stack.push('embedded PostgreSQL', () => embedded.stop());
  const databaseUrl = config.DATABASE_URL ?? embedded!.url;

  const sql = createSql(databaseUrl, { poolMode: config.DATABASE_POOL_MODE, max: config.DATABASE_POOL_MAX, applicationName: 'arcyou-standalone' });
  stack.push('database pool', () => sql.end({ timeout: 5 }));
  const applied = await migrate(sql);
  if (applied.length) logger.info({ applied }, `applied ${applied.length} migration(s)`);
  if (config.DEMO_SEED && (await seedDemoRoom(sql))) logger.info({ roomId: DEMO_ROOM.id }, 'seeded the demo room');

  // One bus for both sides: the in-process one, or a Redis connection pair that other
  // gateways and workers on the same Redis share.
  const bus: Bus = config.REDIS_URL
    ? connectRedisBus(config.REDIS_URL, logger, 'arcyou-standalone', { heartbeatMs: config.BUS_HEARTBEAT_MS })
    : createMemoryBus();
  stack.push('bus', () => bus.close());

  const listenSql = createListenSql({ ...config, DATABASE_URL: databaseUrl }, 'arcyou-standalone-listen');
  if (listenSql) stack.push('LISTEN connection', () => listenSql.end({ timeout: 5 }));
  // One registry: the gateway's GET /metrics shows the worker's metrics too.
  const registry = createRegistry({ processMetrics: true });
  const workerMetrics = createOutboxWorkerMetrics(registry, 'chat');
  const worker = await startChatWorker(config, { sql, listenSql, bus, logger: logger.child({ component: 'chat-worker' }), metrics: workerMetrics });
  stack.push('chat worker', () => worker.stop());

  // The gateway gets its pool and bus as arguments: no URL is among its settings.
  // A development server API key when none is configured (never in production).
  const devKey = !config.SERVER_API_KEYS && config.NODE_ENV !== 'production' ? devServerKey(resolve(config.ARCYOU_DATA_DIR)) : null;
  const gateway = await startGateway(
    { ...config, SERVER_API_KEYS: config.SERVER_API_KEYS || (devKey ?? '') },
    { sql, bus, registry, logger: logger.child({ component: 'gateway' }), signal },
  );
  stack.push('gateway', () => gateway.close());

  return renderBanner({
    host: config.HOST,
    port: gateway.port,
    demoUi: config.DEMO_UI,
    embeddedDataDir: embedded?.dataDir ?? null,
    databaseUrl,
    redisUrl: config.REDIS_URL ?? null,
    pubsubMode: config.PUBSUB_MODE,
    jwtPublicKey: config.JWT_PUBLIC_KEY,
    serverApi: devKey ? { devKey, keyFile: join(resolve(config.ARCYOU_DATA_DIR), DEV_KEY_FILE) } : config.SERVER_API_KEYS ? 'configured' : 'off',
    demo: config.DEMO_SEED ? { roomId: DEMO_ROOM.id, users: DEMO_USERS } : null,
  });
}

runMain('arcyou', async () => {
  const config = loadConfig(standaloneEnv, process.env, [realKeyInProduction]);
  const logger = createLogger('arcyou', config.LOG_LEVEL);
  const banner = await runUntilSignal(logger, { stopping: 'stopping', stopped: 'stopped' }, (stack, signal) => start(config, logger, stack, signal));
  process.stdout.write(`${banner}\n`);
});
