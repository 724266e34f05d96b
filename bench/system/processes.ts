// Starting and stopping the processes under test (gateway, worker, Socket.IO peer,
// a private Redis): each a separate OS process so /proc shows its own CPU and RSS.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const LOG_DIR = '/tmp/arcyou-bench';

export interface Service {
  name: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Resolves once a line of the process's stdout matches this. */
  readyLine: RegExp;
  timeoutMs?: number;
}

/** Spawns the command directly (no shell, so the pid is the server's own) and waits for its ready line. */
export function startService(options: StartOptions): Promise<Service> {
  mkdirSync(LOG_DIR, { recursive: true });
  const log = createWriteStream(join(LOG_DIR, `${options.name}.log`), { flags: 'a' });
  const child = spawn(options.command, options.args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const service: Service = {
    name: options.name,
    pid: child.pid ?? -1,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    },
  };
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.name} did not become ready in time; see ${LOG_DIR}/${options.name}.log`));
    }, options.timeoutMs ?? 30_000);
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const watchReady = (chunk: Buffer) => {
      buffered += chunk.toString();
      if (options.readyLine.test(buffered)) {
        clearTimeout(timer);
        buffered = '';
        // Only this listener: the pipe into the log file keeps its own.
        child.stdout!.off('data', watchReady);
        resolve(service);
      } else if (buffered.length > 100_000) buffered = buffered.slice(-10_000);
    };
    child.stdout!.on('data', watchReady);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited with ${code} before it was ready: ${stderr}`));
    });
  });
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
  return { port, server, stop: () => server.stop() };
}

export interface PrivateRedis {
  url: string;
  pid: number | null;
  stop(): Promise<void>;
}

/**
 * A Redis server of the bench's own (loopback, no persistence), so other people's tests
 * on the shared Redis neither see the bench's Pub/Sub traffic nor add to it. Falls back
 * to `fallbackUrl` when redis-server is not installed.
 */
export async function startPrivateRedis(fallbackUrl: string): Promise<PrivateRedis> {
  const port = await freePort();
  try {
    const service = await startService({
      name: 'redis',
      command: 'redis-server',
      args: [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--client-output-buffer-limit',
        'pubsub',
        '256mb',
        '64mb',
        '60',
      ],
      readyLine: /Ready to accept connections/,
    });
    return { url: `redis://127.0.0.1:${port}`, pid: service.pid, stop: () => service.stop() };
  } catch {
    return { url: fallbackUrl, pid: null, stop: async () => {} };
  }
}
