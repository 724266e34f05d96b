// What the chaos run runs: a private PostgreSQL (a migrated database on it) and a
// private Redis, so both may be stopped at will, plus gateway and chat worker processes
// in named slots that faults empty and refill. Every process ever started is kept, for
// its log.
import { setTimeout as sleep } from 'node:timers/promises';
import { createFreshDatabase, type FreshDatabase } from '../../shared/db/fresh-database';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from '../support/child-process';
import { startPrivatePostgres, startPrivateRedis, type PrivateService } from '../support/private-services';
import { crashReason, type ProcessLog } from './log-check';

export type SlotState = 'starting' | 'running' | 'paused' | 'down';

export interface UnexpectedExit {
  process: string;
  pid: number;
  code: number | null;
  at: number;
  /** The error it printed when it crashed, if any. */
  reason: string | null;
}

const START_PATIENCE_MS = 60_000;

/** One gateway or worker position: at most one process at a time, restarted after faults. */
export class ProcessSlot {
  state: SlotState = 'down';
  proc: (RunningProcess & { port?: number }) | null = null;
  readonly incarnations: Array<{ name: string; proc: RunningProcess }> = [];
  /** Start attempts that failed (e.g. PostgreSQL was down), with the reason. */
  readonly failedStarts: string[] = [];
  private expectingExit = false;
  /** Set at teardown: no process may start in this slot any more. */
  private retired = false;
  private starting: Promise<void> | null = null;

  constructor(
    readonly name: string,
    readonly kind: 'gateway' | 'worker',
    private readonly env: Record<string, string>,
    private readonly onUnexpectedExit: (exit: UnexpectedExit) => void,
  ) {}

  get port(): number | null {
    return this.state === 'running' ? (this.proc?.port ?? null) : null;
  }

  /** Starts a process, retrying for up to `patienceMs` while it fails to come up (a dependency may be down). */
  start(patienceMs = START_PATIENCE_MS): Promise<void> {
    this.starting ??= this.startLoop(patienceMs).finally(() => (this.starting = null));
    return this.starting;
  }

  private async startLoop(patienceMs: number): Promise<void> {
    this.state = 'starting';
    const deadline = Date.now() + patienceMs;
    while (!this.retired) {
      try {
        const proc = this.kind === 'gateway' ? await startGatewayProcess(this.env) : await startWorkerProcess(this.env);
        if (this.retired) {
          proc.child.kill('SIGKILL');
          await proc.exited;
          return;
        }
        this.adopt(proc);
        return;
      } catch (err) {
        const reason = (err as Error).message;
        this.failedStarts.push(reason.split('\n').find((line) => /error|refused|ECONN/i.test(line)) ?? reason.split('\n')[0]!);
        if (Date.now() >= deadline) {
          this.state = 'down';
          throw new Error(`${this.name} did not start within ${patienceMs} ms: ${reason}`, { cause: err });
        }
        await sleep(500);
      }
    }
  }

  private adopt(proc: RunningProcess & { port?: number }): void {
    this.proc = proc;
    this.expectingExit = false;
    this.state = 'running';
    this.incarnations.push({ name: `${this.name}#${this.incarnations.length + 1}`, proc });
    void proc.exited.then((code) => {
      if (this.proc !== proc || this.expectingExit) return;
      this.onUnexpectedExit({ process: this.name, pid: proc.pid, code, at: Date.now(), reason: crashReason(proc.output()) });
      this.proc = null;
      this.state = 'down';
      this.start().catch(() => {});
    });
  }

  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.expectingExit = true;
    this.state = 'down';
    proc.child.kill('SIGKILL');
    await proc.exited;
    this.proc = null;
  }

  pause(): void {
    if (!this.proc || this.state !== 'running') return;
    this.proc.child.kill('SIGSTOP');
    this.state = 'paused';
  }

  resume(): void {
    if (!this.proc || this.state !== 'paused') return;
    this.proc.child.kill('SIGCONT');
    this.state = 'running';
  }

  /** SIGTERM (drain), returns the exit code; null when there was nothing to stop. */
  async stop(): Promise<number | null | 'none'> {
    const proc = this.proc;
    if (!proc) return 'none';
    this.resume();
    this.expectingExit = true;
    const code = await proc.stop();
    this.proc = null;
    this.state = 'down';
    return code;
  }

  /** Teardown: kills the process and any start under way; resolves when they are gone. */
  async retire(): Promise<void> {
    this.retired = true;
    this.expectingExit = true;
    const proc = this.proc;
    if (proc) {
      proc.child.kill('SIGCONT');
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    await this.starting?.catch(() => {});
  }
}

export interface ClusterOptions {
  gateways: number;
  workers: number;
  /** Settings for every gateway and worker, on top of DATABASE_URL, REDIS_URL and PUBSUB_MODE. */
  env: Record<string, string>;
  pubsubMode: 'global' | 'perconv';
}

export class Cluster {
  readonly gateways: ProcessSlot[];
  readonly workers: ProcessSlot[];
  readonly unexpectedExits: UnexpectedExit[] = [];

  /**
   * If this process exits without destroy() (a test runner tearing it down), the private
   * services would outlive it: their stop() does its work synchronously (pg_ctl through
   * spawnSync, a signal to redis-server), so it still runs in an 'exit' listener.
   */
  private readonly stopServicesOnExit = () => {
    void this.postgres.stop().catch(() => {});
    void this.redis.stop().catch(() => {});
  };

  private constructor(
    readonly postgres: PrivateService,
    readonly redis: PrivateService,
    readonly db: FreshDatabase,
    options: ClusterOptions,
  ) {
    process.once('exit', this.stopServicesOnExit);
    const env = { ...options.env, DATABASE_URL: db.url, REDIS_URL: redis.url, PUBSUB_MODE: options.pubsubMode };
    const onExit = (exit: UnexpectedExit) => this.unexpectedExits.push(exit);
    // The last of several gateways leaves its sends to the workers (no fast path), so that
    // the workers carry messages too and their faults hit claimed rows.
    const gatewayEnv = (i: number) => (options.gateways > 1 && i === options.gateways - 1 ? { ...env, OUTBOX_FAST_PATH: 'false' } : env);
    this.gateways = Array.from({ length: options.gateways }, (_, i) => new ProcessSlot(`gateway-${i + 1}`, 'gateway', gatewayEnv(i), onExit));
    this.workers = Array.from({ length: options.workers }, (_, i) => new ProcessSlot(`worker-${i + 1}`, 'worker', env, onExit));
  }

  /** Services first, then the processes; whatever started is torn down again if a later step fails. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const postgres = await startPrivatePostgres();
    let redis: PrivateService | null = null;
    let cluster: Cluster;
    try {
      redis = await startPrivateRedis();
      cluster = new Cluster(postgres, redis, await createFreshDatabase(postgres.url, 'arcyou_chaos', { max: 4 }), options);
    } catch (err) {
      await redis?.destroy();
      await postgres.destroy();
      throw err;
    }
    try {
      // Everything is up at this point: a process that does not start now will not.
      await Promise.all(cluster.slots.map((slot) => slot.start(0)));
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  get slots(): ProcessSlot[] {
    return [...this.gateways, ...this.workers];
  }

  runningGateways(): Array<{ name: string; port: number }> {
    return this.gateways.flatMap((slot) => (slot.port === null ? [] : [{ name: slot.name, port: slot.port }]));
  }

  logs(): ProcessLog[] {
    return this.slots.flatMap((slot) => slot.incarnations.map(({ name, proc }) => ({ name, pid: proc.pid, output: proc.output() })));
  }

  /** Every slot running again (a slot emptied by a fault is refilled). */
  async wholeAgain(): Promise<void> {
    for (const slot of this.slots) slot.resume();
    await Promise.all(this.slots.filter((slot) => slot.state === 'down').map((slot) => slot.start()));
    const deadline = Date.now() + START_PATIENCE_MS;
    while (this.slots.some((slot) => slot.state !== 'running')) {
      if (Date.now() > deadline) throw new Error(`not every process came back: ${this.slots.map((s) => `${s.name} ${s.state}`).join(', ')}`);
      await sleep(100);
    }
  }

  /** SIGTERM to every process; the exit codes by process name. */
  async stopProcesses(): Promise<Record<string, number | null | 'none'>> {
    const codes = await Promise.all(this.slots.map(async (slot) => [slot.name, await slot.stop()] as const));
    return Object.fromEntries(codes);
  }

  /** Kills whatever still runs, drops the database, destroys the private services. Never throws. */
  async destroy(): Promise<void> {
    process.off('exit', this.stopServicesOnExit);
    await Promise.all(this.slots.map((slot) => slot.retire()));
    await this.db.drop().catch(() => {}); // PostgreSQL may be down after a failure: its cluster goes anyway
    await this.redis.destroy().catch(() => {});
    await this.postgres.destroy().catch(() => {});
  }
}
