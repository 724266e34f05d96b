// `npm run migrate`: apply pending migrations to DATABASE_URL.
import { commonEnv, databaseEnv, loadConfig } from '../config';
import { createLogger } from '../logger';
import { createSql } from './client';
import { migrate } from './migrate';
import { runMain } from '../process';

runMain('migrate', async () => {
  const config = loadConfig({ ...commonEnv, ...databaseEnv });
  const logger = createLogger('migrate', config.LOG_LEVEL);
  const sql = createSql(config.DATABASE_URL, { poolMode: config.DATABASE_POOL_MODE, max: 1, applicationName: 'arcyou-migrate' });
  try {
    const applied = await migrate(sql);
    logger.info({ applied }, applied.length ? `applied ${applied.length} migration(s)` : 'schema is up to date');
  } finally {
    await sql.end({ timeout: 5 });
  }
});
