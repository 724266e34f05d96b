// Starting and stopping the processes under test (gateway, worker, Socket.IO peer,
// a private Redis): each a separate OS process so /proc shows its own CPU and RSS.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../shared/net/free-port';
import { spawnProcess, started, type RunningProcess } from '../../test/support/child-process';
import { startPrivateRedis as startRedisServer } from '../../test/support/private-services';

export const LOG_DIR = '/tmp/arcyou-bench';

/** A process the bench started; `name` is its log file's (LOG_DIR/<name>.log). */
export type Service = RunningProcess & { name: string };

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Resolves once a line of the process's output matches this. */
  readyLine: RegExp;
  timeoutMs?: number;
}

/** Starts the command (no shell, so the pid is the server's own) and waits for its ready line. */
export async function startService(options: StartOptions): Promise<Service> {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${options.name}.log`);
  const proc = spawnProcess({ command: options.command, args: options.args, env: options.env, logFile });
  try {
    await started(proc, options.readyLine, options.timeoutMs ?? 30_000);
  } catch (err) {
    throw new Error(`${options.name} did not become ready; see ${logFile}`, { cause: err });
  }
  return Object.assign(proc, { name: options.name });
}

/** Node flags for the servers under test only, e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
export const TSX = [...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx'];

export interface OursSystem {
  port: number;
  gateway: Service;
  worker: Service;
  stop(): Promise<void>;
}

/** Gateway and chat worker as two processes on one database and Redis. */
export async function startOurs(databaseUrl: string, redisUrl: string, env: Record<string, string>): Promise<OursSystem> {
  const port = await freePort();
  const common = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, LOG_LEVEL: 'info', NODE_ENV: 'development', ...env };
  const gateway = await startService({
    name: 'gateway',
    command: process.execPath,
    args: [...TSX, 'gateway/main.ts'],
    env: { ...common, PORT: String(port), HOST: '127.0.0.1' },
    readyLine: /gateway listening/,
  });
  let worker: Service;
  try {
    worker = await startService({
      name: 'worker',
      command: process.execPath,
      args: [...TSX, 'worker/chat/main.ts'],
      env: { METRICS_PORT: '0', ...common },
      readyLine: /chat worker started/,
    });
  } catch (err) {
    await gateway.stop();
    throw err;
  }
  return {
    port,
    gateway,
    worker,
    async stop() {
      await Promise.all([gateway.stop(), worker.stop()]);
    },
  };
}

export interface PeerSystem {
  port: number;
  server: Service;
  stop(): Promise<void>;
}

/** The Socket.IO 4 peer (bench/peer/socketio-server.ts) as its own process. */
export async function startSocketIo(databaseUrl: string, redisUrl: string): Promise<PeerSystem> {
  const port = await freePort();
  const server = await startService({
    name: 'socketio',
    command: process.execPath,
    args: [...TSX, 'bench/peer/socketio-server.ts'],
    env: { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, PORT: String(port) },
    readyLine: /socket\.io peer listening/,
  });
  return {
    port,
    server,
    async stop() {
      await server.stop();
    },
  };
}

export interface PrivateRedis {
  url: string;
  stop(): Promise<void>;
}

/**
 * A Redis server of the bench's own, so other people's tests on the shared Redis neither
 * see the bench's Pub/Sub traffic nor add to it; its Pub/Sub output buffers are larger than
 * the default, for fan-out at saturation. Falls back to `fallbackUrl` when redis-server
 * cannot be started (not installed).
 */
export async function startPrivateRedis(fallbackUrl: string): Promise<PrivateRedis> {
  try {
    const redis = await startRedisServer(['--client-output-buffer-limit', 'pubsub', '256mb', '64mb', '60']);
    return { url: redis.url, stop: () => redis.destroy() };
  } catch {
    return { url: fallbackUrl, stop: async () => {} };
  }
}
