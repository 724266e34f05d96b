// `npm run soak`: the soak run from env, a report on stdout, exit 1 if anything was lost,
// doubled, reordered or logged as an error, or a process's memory grew past the bound.
import { loadConfig, integer, oneOf, text } from '../../shared/config';
import { runMain } from '../../shared/process';
import { formatReport, runSoak } from './soak';

const soakEnv = {
  /** Seconds of traffic (plus ~10 s of start-up and drain). 20 is a CI-sized run. */
  SOAK_SECONDS: integer(180, 10, 86_400),
  SOAK_ROOMS: integer(4, 1, 1000),
  SOAK_MEMBERS_PER_ROOM: integer(5, 2, 1000),
  /** Per member; keep it above 400 ms so sends and acks stay under the default rate limit. */
  SOAK_SEND_INTERVAL_MS: integer(700, 50, 60_000),
  SOAK_LEAVE_INTERVAL_MS: integer(1500, 100, 600_000),
  /** How much a process's RSS may grow from just after warm-up to the end (smoothed). */
  SOAK_MAX_RSS_GROWTH_MB: integer(40, 1, 100_000),
  SOAK_PUBSUB_MODE: oneOf(['perconv', 'global'], 'perconv'),
  /** A PostgreSQL server: the soak creates a database of its own there and drops it at the end. */
  DATABASE_URL: text('postgres://postgres@127.0.0.1:5432/postgres'),
  REDIS_URL: text('redis://127.0.0.1:6379'),
};

runMain('soak', async () => {
  const config = loadConfig(soakEnv);
  const report = await runSoak({
    seconds: config.SOAK_SECONDS,
    databaseUrl: config.DATABASE_URL,
    redisUrl: config.REDIS_URL,
    rooms: config.SOAK_ROOMS,
    membersPerRoom: config.SOAK_MEMBERS_PER_ROOM,
    sendIntervalMs: config.SOAK_SEND_INTERVAL_MS,
    leaveIntervalMs: config.SOAK_LEAVE_INTERVAL_MS,
    maxRssGrowthBytes: config.SOAK_MAX_RSS_GROWTH_MB * 1024 * 1024,
    pubsubMode: config.SOAK_PUBSUB_MODE,
    log: (line) => console.log(line),
  });
  console.log(formatReport(report));
  process.exit(report.failures.length ? 1 : 0);
});
