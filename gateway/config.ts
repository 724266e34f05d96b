import * as v from 'valibot';
import { commonEnv, databaseEnv, defaultWorkerId, flag, integer, loadConfig, pubsubEnv, text, type ConfigOf, type ConfigRule } from '../shared/config';

export const DEV_PLACEHOLDER_KEY = 'dev-placeholder';

/**
 * What startGateway reads. Its connections (PostgreSQL, the bus) come to it ready-made, so
 * their URLs are not here: `npm start` runs a gateway without REDIS_URL, on the in-process bus.
 */
export const gatewayServerEnv = {
  NODE_ENV: commonEnv.NODE_ENV,
  PUBSUB_MODE: pubsubEnv.PUBSUB_MODE,
  /** Sizes the gateway's group commit: up to half the pool writes sends at once. */
  DATABASE_POOL_MAX: databaseEnv.DATABASE_POOL_MAX,
  HOST: text('0.0.0.0'),
  PORT: integer(8080, 0, 65_535),
  /** PEM (SPKI) RS256 public key, or `dev-placeholder` to accept a user UUID as the token (refused in production). */
  JWT_PUBLIC_KEY: text(DEV_PLACEHOLDER_KEY),
  MAX_BODY_BYTES: integer(65_536, 256, 16 * 1024 * 1024),
  RL_BUCKET_CAPACITY: integer(30, 1, 1_000_000),
  RL_REFILL_MS: integer(10_000, 1, 3_600_000),
  WS_SEND_HIGH_WATER: integer(1024 * 1024, 1024, 1024 * 1024 * 1024),
  WS_IDLE_TIMEOUT_S: integer(120, 8, 960),
  AUTH_TIMEOUT_MS: integer(10_000, 100, 3_600_000),
  BACKFILL_LIMIT: integer(500, 0, 10_000),
  SHUTDOWN_GRACE_MS: integer(10_000, 0, 600_000),
  /** Names this gateway in the outbox rows it publishes itself (locked_by "gateway:<id>"). */
  GATEWAY_ID: text(defaultWorkerId()),
  /** Publish stored messages from the gateway right after their commit (the outbox workers only take what it could not). */
  OUTBOX_FAST_PATH: flag(true),
  /** Rows the gateway holds for its fast path go to the workers if it has not published them by then (it crashed). */
  OUTBOX_FAST_PATH_LOCK_SECONDS: integer(5, 1, 3600),
  /** Most sends written in one transaction (group commit). */
  SEND_BATCH_MAX: integer(256, 1, 10_000),
  /** While sends come at least one per 2 × this many ms, a batch waits this long after its first send for others (0: never). */
  SEND_BATCH_WINDOW_MS: integer(1, 0, 1000),
  /** At most one worker wake-up (NOTIFY) per this many ms from sends; 0 = one per send. */
  OUTBOX_NOTIFY_WINDOW_MS: integer(5, 0, 1000),
  /** A message that came before the ones ahead of it waits this long for them before they are read from PostgreSQL. */
  DELIVERY_HOLD_MS: integer(250, 1, 60_000),
  /** A gap that cannot be read from PostgreSQL for this long is announced to clients (a `gap` event) and skipped. */
  DELIVERY_GAP_TIMEOUT_MS: integer(30_000, 100, 3_600_000),
  /** Keys of the server API (comma-separated: several during a rotation); empty = the server API is off. */
  SERVER_API_KEYS: v.optional(v.string(), ''),
  /** HTTP API requests per caller (server key or user): a bucket of this many... */
  API_RL_CAPACITY: integer(600, 1, 1_000_000),
  /** ...refilled over this many ms. */
  API_RL_REFILL_MS: integer(60_000, 1, 3_600_000),
  /** Serve the demo chat page at /demo (gateway/demo/). On in `npm start`. */
  DEMO_UI: flag(false),
};

export type GatewayConfig = ConfigOf<typeof gatewayServerEnv>;

/** The gateway process (`npm run gateway`): startGateway's settings, and how to reach PostgreSQL and Redis. */
export const gatewayEnv = {
  ...commonEnv,
  ...databaseEnv,
  ...pubsubEnv,
  ...gatewayServerEnv,
  /** How often the bus subscription proves it is alive (a heartbeat through Redis); 0 = never. */
  BUS_HEARTBEAT_MS: integer(1000, 0, 60_000),
};

/** dev-placeholder takes any user id as a token: never in production. */
export const realKeyInProduction: ConfigRule<Pick<GatewayConfig, 'JWT_PUBLIC_KEY' | 'NODE_ENV'>> = {
  names: ['JWT_PUBLIC_KEY'],
  holds: (config) => !(config.JWT_PUBLIC_KEY === DEV_PLACEHOLDER_KEY && config.NODE_ENV === 'production'),
  must: () => 'be an RS256 PEM public key when NODE_ENV=production (dev-placeholder is for development only)',
};

/** gatewayEnv, and the rules between its variables. */
export function loadGatewayConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(gatewayEnv, env, [realKeyInProduction]);
}
