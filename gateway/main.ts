// `npm run gateway`: one WebSocket gateway, from env.
import { connectRedisBus } from '../shared/bus/connect-redis-bus';
import { createSql } from '../shared/db/client';
import { createLogger } from '../shared/logger';
import { createRegistry } from '../shared/metrics';
import { runMain, runUntilSignal } from '../shared/process';
import { loadGatewayConfig } from './config';
import { startGateway } from './server';

runMain('gateway', async () => {
  const config = loadGatewayConfig();
  const logger = createLogger('gateway', config.LOG_LEVEL);
  await runUntilSignal(logger, { stopping: 'gateway draining', stopped: 'gateway stopped' }, async (stack, signal) => {
    const sql = createSql(config.DATABASE_URL, { poolMode: config.DATABASE_POOL_MODE, max: config.DATABASE_POOL_MAX, applicationName: 'arcyou-gateway' });
    stack.push('database pool', () => sql.end({ timeout: 5 }));
    const bus = connectRedisBus(config.REDIS_URL, logger, 'arcyou-gateway', { heartbeatMs: config.BUS_HEARTBEAT_MS });
    stack.push('bus', () => bus.close());
    const gateway = await startGateway(config, { sql, bus, logger, registry: createRegistry({ processMetrics: true }), signal });
    stack.push('gateway', () => gateway.close());
  });
});
