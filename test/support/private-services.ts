// Private PostgreSQL, Redis and PgBouncer instances for fault tests: a test may stop and
// restart these without disturbing the shared services other test files use. They run
// Debian's binaries; PostgreSQL and PgBouncer refuse root, so they run as `postgres`.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../shared/net/free-port';
import { spawnProcess, started, type RunningProcess } from './child-process';

export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await sleep(50);
  }
}

const asRoot = process.getuid?.() === 0;
const postgresOwned = (dir: string) => {
  if (!asRoot) return;
  const ids = spawnSync('id', ['-u', 'postgres']).stdout.toString().trim();
  const gid = spawnSync('id', ['-g', 'postgres']).stdout.toString().trim();
  chownSync(dir, Number(ids), Number(gid));
};
const asPostgres = (command: string, args: string[]): [string, string[]] =>
  asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];

function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `arcyou-${label}-`));
  chmodSync(dir, 0o700);
  postgresOwned(dir);
  return dir;
}

export interface PrivateService {
  port: number;
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops, stays down for `downMs`, starts again. */
  restart(downMs: number): Promise<void>;
  destroy(): Promise<void>;
}

/** redis-server's arguments for a throwaway server on `port`: loopback only, nothing kept on disk. */
export function redisServerArgs(port: number, extra: string[] = []): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra];
}

/** A Redis server of its own (Debian's redis-server); `extraArgs` go on its command line. */
export async function startPrivateRedis(extraArgs: string[] = []): Promise<PrivateService> {
  const port = await freePort();
  let proc: RunningProcess | null = null;
  const service: PrivateService = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      proc = spawnProcess({ command: 'redis-server', args: redisServerArgs(port, extraArgs) });
      await started(proc, /Ready to accept connections/, 15_000);
    },
    async stop() {
      await proc?.stop();
    },
    async restart(downMs) {
      await service.stop();
      await sleep(downMs);
      await service.start();
    },
    destroy: () => service.stop(),
  };
  await service.start();
  return service;
}

function postgresBin(name: string): string {
  const versions = readdirSync('/usr/lib/postgresql').sort();
  return `/usr/lib/postgresql/${versions.at(-1)}/bin/${name}`;
}

function runOrThrow(command: string, args: string[]): void {
  const [cmd, full] = asPostgres(command, args);
  const result = spawnSync(cmd, full, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
}

/** A fresh PostgreSQL cluster of its own (initdb), trust auth, user postgres, database postgres. */
export async function startPrivatePostgres(): Promise<PrivateService> {
  const port = await freePort();
  const dataDir = join(tempDir('pg'), 'data');
  const socketDir = tempDir('pgsock');
  runOrThrow(postgresBin('initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const pgCtl = (action: string, extra: string[] = []) =>
    runOrThrow(postgresBin('pg_ctl'), [
      '-D',
      dataDir,
      '-w',
      '-t',
      '30',
      '-o',
      `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      ...extra,
      action,
    ]);
  const service: PrivateService = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      pgCtl('start', ['-l', join(socketDir, 'log')]);
    },
    async stop() {
      pgCtl('stop', ['-m', 'fast']);
    },
    async restart(downMs) {
      await service.stop();
      await sleep(downMs);
      await service.start();
    },
    async destroy() {
      try {
        await service.stop();
      } catch {
        // already stopped
      }
      rmSync(join(dataDir, '..'), { recursive: true, force: true });
      rmSync(socketDir, { recursive: true, force: true });
    },
  };
  await service.start();
  return service;
}

/** PgBouncer in transaction pooling mode in front of 127.0.0.1:`targetPort`. */
export async function startPgBouncer(targetPort: number, database: string): Promise<PrivateService> {
  const port = await freePort();
  const dir = tempDir('pgbouncer');
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n');
  writeFileSync(
    ini,
    [
      '[databases]',
      `${database} = host=127.0.0.1 port=${targetPort} dbname=${database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      'max_client_conn = 200',
      'default_pool_size = 10',
      'ignore_startup_parameters = extra_float_digits,application_name',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  for (const file of ['userlist.txt', 'pgbouncer.ini']) postgresOwned(join(dir, file));
  let proc: RunningProcess | null = null;
  const service: PrivateService = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    async start() {
      // pgbouncer drops root itself with -u, so signals reach it directly.
      proc = spawnProcess({ command: 'pgbouncer', args: asRoot ? ['-u', 'postgres', ini] : [ini] });
      await waitForPort(port);
    },
    async stop() {
      await proc?.stop(10_000, 'SIGINT');
    },
    async restart(downMs) {
      await service.stop();
      await sleep(downMs);
      await service.start();
    },
    async destroy() {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await service.start();
  return service;
}
