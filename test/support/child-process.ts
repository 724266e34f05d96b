// A process of its own (the gateway, a worker, redis-server, PgBouncer), so a crash, its
// memory and its log are observable from outside: its output kept and optionally copied to
// a log file, waited for by a line it prints, stopped with a grace period. Used by the tests,
// the soak run and the bench. No vitest imports: the soak and bench CLIs use it too.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = new URL('../..', import.meta.url).pathname;

export interface RunningProcess {
  child: ChildProcess;
  pid: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal, or when it could not be started). */
  exited: Promise<number | null>;
  /** True until it exits. */
  alive(): boolean;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** `signal` (SIGTERM), then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number, signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL, to its process group when detached (what it started goes too). */
  kill(): void;
}

export interface SpawnOptions {
  command: string;
  args: string[];
  /** On top of this process's environment; undefined unsets a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /**
   * In a process group of its own (`npm run …`, which starts the real process as its
   * child): killed as a group when this process exits, and by kill().
   */
  detached?: boolean;
  /** Its output is also appended to this file. */
  logFile?: string;
}

// Children still running when this process exits (a test that failed half-way, a timeout)
// are killed with it rather than left behind.
const running = new Set<RunningProcess>();
process.once('exit', () => {
  for (const proc of running) proc.kill();
});

/** Spawns `command` directly (no shell, so the pid is its own). */
export function spawnProcess(options: SpawnOptions): RunningProcess {
  const { command, args } = options;
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  const chunks: string[] = [];
  const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : null;
  const keep = (d: string) => {
    chunks.push(d);
    log?.write(d);
  };
  child.stdout!.setEncoding('utf8').on('data', keep);
  child.stderr!.setEncoding('utf8').on('data', keep);
  // After 'close', not 'exit': output can still arrive between the two.
  if (log) child.once('close', () => log.end());
  let alive = true;
  const exited = new Promise<number | null>((resolve) => {
    const ended = (code: number | null) => {
      if (!alive) return;
      alive = false;
      running.delete(proc);
      resolve(code);
    };
    child.once('exit', (code) => ended(code));
    // 'error' without 'exit': it could not be started (e.g. not installed).
    child.once('error', (err) => {
      if (alive) keep(`${command}: ${err.message}\n`);
      ended(null);
    });
  });
  const output = () => chunks.join('');
  const name = [command, ...args].join(' ');
  const proc: RunningProcess = {
    child,
    pid: child.pid ?? -1,
    output,
    exited,
    alive: () => alive,
    async waitForOutput(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output().match(pattern);
        if (match) return match;
        if (!alive) throw new Error(`${name} exited before printing ${pattern}:\n${output()}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} from ${name} within ${timeoutMs} ms:\n${output()}`);
        await sleep(50);
      }
    },
    async stop(graceMs = 10_000, signal = 'SIGTERM') {
      if (!alive) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    kill() {
      try {
        if (options.detached && child.pid) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // the group is gone already
      }
    },
  };
  running.add(proc);
  return proc;
}

/** Starts `node --import tsx <entry>` in the repo root with the given env on top of this process's. */
export function startNodeProcess(entry: string, env: Record<string, string>): RunningProcess {
  return spawnProcess({ command: process.execPath, args: ['--import', 'tsx', entry], env });
}

/** Resolves once `proc` printed `pattern`; kills it if it does not (a half-started process helps no one). */
export async function started(proc: RunningProcess, pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray> {
  try {
    return await proc.waitForOutput(pattern, timeoutMs);
  } catch (err) {
    proc.kill();
    throw err;
  }
}

/** A gateway process on a free port; resolves once it listens (it prints the port at LOG_LEVEL info). */
export async function startGatewayProcess(env: Record<string, string>): Promise<RunningProcess & { port: number }> {
  const proc = startNodeProcess('gateway/main.ts', { PORT: '0', HOST: '127.0.0.1', ...env });
  const port = Number((await started(proc, /"port":(\d+)/))[1]);
  return Object.assign(proc, { port });
}

/** A chat worker process; resolves once it runs. */
export async function startWorkerProcess(env: Record<string, string>): Promise<RunningProcess> {
  // Several workers share this machine: no metrics port unless the test asks for one.
  const proc = startNodeProcess('worker/chat/main.ts', { METRICS_PORT: '0', ...env });
  await started(proc, /chat worker started/);
  return proc;
}

/** Resident set size of a live process in bytes, from /proc/<pid>/status (Linux). */
export function residentBytes(pid: number): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB$/m);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** What a process log shows that must never happen: crashes and error-level (pino ≥ 50) lines. */
export function logProblems(output: string): { crashes: string[]; errors: string[] } {
  const lines = output.split('\n').filter(Boolean);
  const crashes = lines.filter((line) => /unhandledRejection|uncaughtException|UnhandledPromiseRejection|FATAL ERROR|Segmentation fault|Aborted/.test(line));
  const errors = lines.filter((line) => {
    try {
      return (JSON.parse(line) as { level?: number }).level! >= 50;
    } catch {
      return false;
    }
  });
  return { crashes, errors };
}
