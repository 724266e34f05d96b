// `npm start`: the chat system in one process, with nothing else to install. Without
// DATABASE_URL it runs an embedded PostgreSQL; without REDIS_URL the gateway and the
// chat worker talk over the in-process bus. Migrates, seeds the demo room, prints where
// to connect. SIGTERM/SIGINT drain the gateway, stop the worker, then PostgreSQL.
import { join, resolve } from 'node:path';
import type { Bus } from '../shared/bus/bus';
import { createMemoryBus } from '../shared/bus/memory-bus';
import { connectRedisBus } from '../shared/bus/connect-redis-bus';
import { loadConfig } from '../shared/config';
import { createSql } from '../shared/db/client';
import { migrate } from '../shared/db/migrate';
import { DEMO_ROOM, DEMO_USERS } from '../shared/demo-room';
import { createLogger, type Logger } from '../shared/logger';
import { createRegistry } from '../shared/metrics';
import { onShutdownSignal, runMain } from '../shared/process';
import { startGateway } from '../gateway/server';
import { startChatWorker } from '../worker/chat/chat-worker';
import { createOutboxWorkerMetrics } from '../worker/metrics';
import { DEV_KEY_FILE, devServerKey } from './dev-server-key';
import { renderBanner } from './banner';
import { standaloneEnv } from './config';
import { seedDemoRoom } from './demo-seed';
import { startEmbeddedPostgres } from './embedded-postgres';

type StandaloneConfig = ReturnType<typeof loadConfig<typeof standaloneEnv>>;

/** Things started so far, stopped in reverse order; a failing stop does not skip the rest. */
function createStack(logger: Logger) {
  const stops: Array<{ name: string; stop: () => Promise<unknown> }> = [];
  return {
    push(name: string, stop: () => Promise<unknown>): void {
      stops.push({ name, stop });
    },
    async stopAll(): Promise<void> {
      let failed: unknown = null;
      for (const { name, stop } of stops.splice(0).reverse()) {
        try {
          await stop();
        } catch (err) {
          failed ??= err;
          logger.error({ err }, `stopping ${name} failed`);
        }
      }
      if (failed) throw failed;
    },
  };
}

type Stack = ReturnType<typeof createStack>;

async function start(config: StandaloneConfig, logger: Logger, stack: Stack): Promise<string> {
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
  const bus: Bus = config.REDIS_URL ? connectRedisBus(config.REDIS_URL, logger, 'arcyou-standalone', { heartbeatMs: config.BUS_HEARTBEAT_MS }) : createMemoryBus();
  stack.push('bus', () => bus.close());

  const listenUrl = config.LISTEN_DATABASE_URL ?? (config.DATABASE_POOL_MODE === 'direct' ? databaseUrl : null);
  const listenSql = listenUrl ? createSql(listenUrl, { max: 1, applicationName: 'arcyou-standalone-listen' }) : null;
  if (listenSql) stack.push('LISTEN connection', () => listenSql.end({ timeout: 5 }));
  // One registry: the gateway's GET /metrics shows the worker's metrics too.
  const registry = createRegistry({ processMetrics: true });
  const workerMetrics = createOutboxWorkerMetrics(registry, 'chat');
  const worker = await startChatWorker(config, { sql, listenSql, bus, logger: logger.child({ component: 'chat-worker' }), metrics: workerMetrics });
  stack.push('chat worker', () => worker.stop());

  // The gateway takes its bus as an argument and never reads the URLs itself.
  // A development server API key when none is configured (never in production).
  const devKey = !config.SERVER_API_KEYS && config.NODE_ENV !== 'production' ? devServerKey(resolve(config.ARCYOU_DATA_DIR)) : null;
  const gatewayConfig = { ...config, DATABASE_URL: databaseUrl, REDIS_URL: config.REDIS_URL ?? '', SERVER_API_KEYS: config.SERVER_API_KEYS || (devKey ?? '') };
  const gateway = await startGateway(gatewayConfig, { sql, bus, registry, logger: logger.child({ component: 'gateway' }) });
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
  const config = loadConfig(standaloneEnv);
  const logger = createLogger('arcyou', config.LOG_LEVEL);
  const stack = createStack(logger);
  // Registered first, so a signal during start-up (initdb takes seconds) waits for it, then stops it all.
  let starting: Promise<unknown> = Promise.resolve();
  onShutdownSignal(async (signal) => {
    logger.info({ signal }, 'stopping');
    await starting.catch(() => {});
    await stack.stopAll();
    logger.info('stopped');
  });
  starting = start(config, logger, stack);
  try {
    process.stdout.write(`${await starting}\n`);
  } catch (err) {
    await stack.stopAll().catch(() => {});
    throw err;
  }
});
