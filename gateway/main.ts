// `npm run gateway`: one WebSocket gateway, from env.
import { connectRedisBus } from '../shared/bus/connect-redis-bus';
import { loadConfig } from '../shared/config';
import { createSql } from '../shared/db/client';
import { createLogger } from '../shared/logger';
import { createRegistry } from '../shared/metrics';
import { onShutdownSignal, runMain } from '../shared/process';
import { gatewayEnv } from './config';
import { startGateway } from './server';

runMain('gateway', async () => {
  const config = loadConfig(gatewayEnv);
  const logger = createLogger('gateway', config.LOG_LEVEL);
  const sql = createSql(config.DATABASE_URL, { poolMode: config.DATABASE_POOL_MODE, max: config.DATABASE_POOL_MAX, applicationName: 'arcyou-gateway' });
  const bus = connectRedisBus(config.REDIS_URL, logger, 'arcyou-gateway', { heartbeatMs: config.BUS_HEARTBEAT_MS });
  const gateway = await startGateway(config, { sql, bus, logger, registry: createRegistry({ processMetrics: true }) });

  onShutdownSignal(async (signal) => {
    logger.info({ signal }, 'gateway draining');
    await gateway.close();
    await bus.close();
    await sql.end({ timeout: 5 });
    logger.info('gateway stopped');
  });
});
