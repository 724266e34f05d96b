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
  [
    redisUrl,
    v.pipe(
      v.string(),
      v.check((s) => parseClusterUrl(s) !== null),
    ),
  ],
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

/** The typed, frozen config that `entries` parse to. */
export type ConfigOf<E extends v.ObjectEntries> = Readonly<v.InferOutput<v.ObjectSchema<E, undefined>>>;

/**
 * A rule between variables, for what no single entry can say ("less than half of
 * EMBEDDING_CHUNK_CHARS"). Checked once every variable is valid on its own, and reported
 * in the same words as a bad variable: "<names> must <must> (got <their values>)". Those
 * values are printed, so a rule never names a secret.
 */
export interface ConfigRule<C> {
  /** The variables the message is about. */
  names: readonly (keyof C & string)[];
  holds(config: C): boolean;
  /** Completes "<names> must …"; names any other variable it depends on, with its value. */
  must(config: C): string;
}

/** The error for a start-up configuration that will not do: one line per problem. */
function configError(problems: readonly string[]): ConfigError {
  return new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
}

/** The problem `rule` reports for `config`, or null when the rule holds. */
function ruleProblem<C>(rule: ConfigRule<C>, config: C): string | null {
  if (rule.holds(config)) return null;
  const got = rule.names.map((name) => JSON.stringify(config[name])).join(' and ');
  return `${rule.names.join(' and ')} must ${rule.must(config)} (got ${got})`;
}

/**
 * Parses `env` with `entries`, then checks `rules` between the variables; throws
 * ConfigError listing every bad variable (or, once each is valid, every broken rule).
 */
export function loadConfig<const E extends v.ObjectEntries>(
  entries: E,
  env: Record<string, string | undefined> = process.env,
  rules: readonly ConfigRule<ConfigOf<E>>[] = [],
): ConfigOf<E> {
  // An empty variable (`BATCH_SIZE=`) means "unset", as in most shells and compose files.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = v.safeParse(v.object(entries), present);
  if (!result.success) {
    throw configError(
      result.issues.map((issue) => {
        const name = v.getDotPath(issue) ?? '?';
        const got = issue.input === undefined ? 'it is not set' : SECRET_NAME.test(name) ? 'the value given is not' : `got ${JSON.stringify(issue.input)}`;
        return `${name} must be ${issue.message.replace(/^Invalid (type|key): Expected .*$/, 'set')} (${got})`;
      }),
    );
  }
  const config = Object.freeze(result.output);
  const broken = rules.map((rule) => ruleProblem(rule, config)).filter((problem) => problem !== null);
  if (broken.length > 0) throw configError(broken);
  return config;
}
