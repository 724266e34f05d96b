// Turns the environment into a typed, frozen config object, once, at start-up.
// Every variable is declared with its default; an invalid value stops the process
// with a message that names the variable and what it expects.
import { hostname } from 'node:os';
import * as v from 'valibot';
import { parseClusterUrl } from './redis-cluster';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const SECRET_NAME = /URL|KEY|TOKEN|SECRET|PASSWORD/;

export function integer(defaultValue: number, min: number, max: number) {
  const expected = `an integer from ${min} to ${max}`;
  return v.pipe(
    v.optional(v.string(), String(defaultValue)),
    v.trim(),
    v.regex(/^-?\d+$/, expected),
    v.transform(Number),
    v.safeInteger(expected),
    v.minValue(min, expected),
    v.maxValue(max, expected),
  );
}

export function oneOf<const T extends string>(values: readonly [T, ...T[]], defaultValue: T) {
  return v.optional(v.picklist(values, `one of ${values.join(', ')}`), defaultValue);
}

export function flag(defaultValue: boolean) {
  const expected = 'true or false';
  return v.pipe(
    v.optional(v.string(), String(defaultValue)),
    v.transform((s) => s.trim().toLowerCase()),
    v.picklist(['true', 'false', '1', '0', 'yes', 'no'], expected),
    v.transform((s) => s === 'true' || s === '1' || s === 'yes'),
  );
}

export function url(protocols: readonly string[]) {
  const expected = `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`;
  return v.pipe(
    v.string(expected),
    v.check((s) => {
      try {
        return protocols.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    }, expected),
  );
}

export function text(defaultValue: string) {
  return v.optional(v.pipe(v.string(), v.minLength(1, 'a non-empty string')), defaultValue);
}

export const databaseUrl = url(['postgres:', 'postgresql:']);
export const redisUrl = url(['redis:', 'rediss:']);
/** Redis for the bus: one Redis, or a Redis Cluster given by its seed nodes (sharded Pub/Sub). */
export const busRedisUrl = v.union(
  [redisUrl, v.pipe(v.string(), v.check((s) => parseClusterUrl(s) !== null))],
  'a URL starting with redis:// or rediss://, or redis+cluster://host:port[,host:port…]',
);

/** Variables every process understands. */
export const commonEnv = {
  NODE_ENV: v.optional(v.string(), 'development'),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
};

/** How a process reaches PostgreSQL: directly, or through PgBouncer in transaction pooling mode. */
export const databaseEnv = {
  DATABASE_URL: databaseUrl,
  DATABASE_POOL_MODE: oneOf(['direct', 'transaction'], 'direct'),
  DATABASE_POOL_MAX: integer(10, 1, 1000),
};

export const pubsubEnv = {
  REDIS_URL: busRedisUrl,
  PUBSUB_MODE: oneOf(['global', 'perconv'], 'global'),
};

export const defaultWorkerId = () => `${hostname()}-${process.pid}`;

/** Parses `env` with `entries`; throws ConfigError listing every bad variable. */
export function loadConfig<const E extends v.ObjectEntries>(
  entries: E,
  env: Record<string, string | undefined> = process.env,
): Readonly<v.InferOutput<v.ObjectSchema<E, undefined>>> {
  // An empty variable (`BATCH_SIZE=`) means "unset", as in most shells and compose files.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = v.safeParse(v.object(entries), present);
  if (!result.success) {
    const lines = result.issues.map((issue) => {
      const name = v.getDotPath(issue) ?? '?';
      const got = issue.input === undefined ? 'it is not set' : SECRET_NAME.test(name) ? 'the value given is not' : `got ${JSON.stringify(issue.input)}`;
      return `${name} must be ${issue.message.replace(/^Invalid (type|key): Expected .*$/, 'set')} (${got})`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return Object.freeze(result.output);
}
