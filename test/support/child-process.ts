// The gateway or a worker as its own Node process (`node --import tsx <entry>`), so a
// crash, its memory and its log are observable from outside. Used by the fuzzer, the
// soak run and the security tests. No vitest imports: the soak CLI uses it too.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';

export const ROOT = new URL('../..', import.meta.url).pathname;

export interface RunningProcess {
  child: ChildProcess;
  pid: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** True until it exits. */
  alive(): boolean;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

// Children still running when this process exits (a test that failed half-way, a timeout)
// are killed with it rather than left behind.
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts `node --import tsx <entry>` in the repo root with the given env on top of this process's. */
export function startNodeProcess(entry: string, env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const chunks: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => chunks.push(d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => chunks.push(d));
  let running = true;
  const exited = once(child, 'exit').then(([code]) => {
    running = false;
    children.delete(child);
    return code as number | null;
  });
  const output = () => chunks.join('');
  return {
    child,
    pid: child.pid!,
    output,
    exited,
    alive: () => running,
    async waitForOutput(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output().match(pattern);
        if (match) return match;
        if (!running) throw new Error(`${entry} exited before printing ${pattern}:\n${output()}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} from ${entry} within ${timeoutMs} ms:\n${output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(graceMs = 10_000) {
      if (!running) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Resolves once `proc` printed `pattern`; kills it if it does not (a half-started process helps no one). */
async function started(proc: RunningProcess, pattern: RegExp): Promise<RegExpMatchArray> {
  try {
    return await proc.waitForOutput(pattern);
  } catch (err) {
    proc.child.kill('SIGKILL');
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
