// Where the bench finds PostgreSQL and Redis, and the settings it gives our processes.
// The knobs people tune (RL_BUCKET_CAPACITY, WS_SEND_HIGH_WATER, BATCH_SIZE, PUBSUB_MODE,
// POLL_INTERVAL_MS, ...) pass through from the environment when set.
import { cpus } from 'node:os';
import { machineLoad } from './proc';

export const KNOBS = [
  'RL_BUCKET_CAPACITY',
  'RL_REFILL_MS',
  'WS_SEND_HIGH_WATER',
  'BATCH_SIZE',
  'PUBSUB_MODE',
  'POLL_INTERVAL_MS',
  'DATABASE_POOL_MAX',
  'DATABASE_POOL_MODE',
  'LISTEN_DATABASE_URL',
  'LOCK_SECONDS',
  'MAX_BODY_BYTES',
  'SEND_BATCH_WINDOW_MS',
] as const;

/** The bench's defaults: no rate limit in the way, room for bursts to slow readers. */
const BENCH_DEFAULTS: Record<string, string> = {
  RL_BUCKET_CAPACITY: '1000000',
  RL_REFILL_MS: '1',
  WS_SEND_HIGH_WATER: String(16 * 1024 * 1024),
};

export function oursEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = { ...BENCH_DEFAULTS };
  for (const knob of KNOBS) if (env[knob]) out[knob] = env[knob]!;
  return out;
}

export const adminDatabaseUrl = (env: NodeJS.ProcessEnv = process.env) =>
  env.BENCH_DATABASE_URL ?? env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const sharedRedisUrl = (env: NodeJS.ProcessEnv = process.env) => env.BENCH_REDIS_URL ?? env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function machineInfo() {
  const list = cpus();
  const { load1, load5, load15 } = machineLoad();
  return { cpus: list.length, model: list[0]?.model ?? 'unknown', node: process.version, load: [load1, load5, load15] };
}

/** Rooms per fan-out: several rooms in parallel, at most ~3,000 subscriber sockets. */
export function roomsFor(fanout: number): number {
  if (fanout >= 1000) return 3;
  if (fanout >= 100) return 8;
  if (fanout >= 10) return 16;
  return 32;
}
