// The fault injector: about every 1–3 s (seeded) one fault, each recorded with when it
// began and when what it broke was whole again. Kinds are dealt from a shuffled deck, so
// even a short run gets every kind; a kind not possible right now waits for a later
// turn. Faults may overlap, but at least one gateway and one worker keep running, and no
// two faults hit Redis or PostgreSQL at once.
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createSql, type Sql } from '../../shared/db/client';
import type { Random } from '../support/frame-fuzzer';
import type { Cluster, ProcessSlot } from './cluster';
import type { Mutex } from './mutex';
import type { FaultKind, FaultRecord } from './trace';

export interface FaultOptions {
  cluster: Cluster;
  random: Random;
  /** Gap between two faults, drawn uniformly. */
  gapMs: [number, number];
  /** Shared with the membership churn: PostgreSQL faults wait for its transactions. */
  postgresGate: Mutex;
  log(line: string): void;
}

interface Fault {
  kind: FaultKind;
  target: string;
  /** Breaks something, waits, makes it whole; returns what happened, for the record. */
  run(): Promise<string>;
}

/** How long a worker fault waits for its worker to hold claimed rows. */
const WAIT_FOR_CLAIM_MS = 3000;
export const FAULT_KINDS: readonly FaultKind[] = [
  'worker-kill',
  'worker-stop',
  'gateway-kill',
  'redis-restart',
  'redis-kill-pubsub',
  'postgres-restart',
  'postgres-terminate',
];

export class FaultInjector {
  readonly records: FaultRecord[] = [];
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private redisBusy = false;
  private postgresBusy = false;
  /** On the cluster's `postgres` database, so terminating the chat database's connections spares it. */
  private readonly admin: Sql;
  private readonly databaseName: string;
  private readonly startedAt = Date.now();
  /** Kinds still to deal in this round. */
  private deck: FaultKind[] = [];

  /** On the chat database: which rows a worker holds. */
  private readonly chat: Sql;

  constructor(private readonly options: FaultOptions) {
    this.admin = createSql(options.cluster.postgres.url, { max: 1, applicationName: 'chaos-faults' });
    this.chat = createSql(options.cluster.db.url, { max: 1, applicationName: 'chaos-faults-outbox' });
    this.databaseName = new URL(options.cluster.db.url).pathname.slice(1);
  }

  start(): void {
    this.running = true;
    this.loop = this.schedule();
  }

  /** No new faults; resolves once every fault under way has made its damage whole. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.all(this.inFlight);
  }

  async close(): Promise<void> {
    await this.stop();
    await Promise.all([this.admin.end({ timeout: 1 }), this.chat.end({ timeout: 1 })]);
  }

  countsByKind(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of this.records) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
    return counts;
  }

  private async schedule(): Promise<void> {
    const { random, gapMs } = this.options;
    while (this.running) {
      const wakeAt = Date.now() + random.between(gapMs[0], gapMs[1]);
      while (this.running && Date.now() < wakeAt) await sleep(Math.min(100, wakeAt - Date.now()));
      if (!this.running) break;
      const fault = this.deal();
      if (fault) this.inject(fault);
    }
  }

  private inject(fault: Fault): void {
    const record: FaultRecord = { kind: fault.kind, target: fault.target, startedAt: Date.now(), endedAt: null, detail: '' };
    this.records.push(record);
    const at = ((record.startedAt - this.startedAt) / 1000).toFixed(1);
    this.options.log(`  +${at}s fault ${fault.kind} ${fault.target}`);
    const done = fault
      .run()
      .then(
        (detail) => void (record.detail = detail),
        (err: unknown) => void (record.detail = `failed: ${(err as Error).message.split('\n')[0]}`),
      )
      .finally(() => {
        record.endedAt = Date.now();
        this.inFlight.delete(done);
      });
    this.inFlight.add(done);
  }

  /** The first kind in the deck that is possible now, taken out of it; a new shuffled deck when it is empty. */
  private deal(): Fault | null {
    const { random } = this.options;
    if (!this.deck.length) {
      this.deck = [...FAULT_KINDS];
      for (let i = this.deck.length - 1; i > 0; i--) {
        const j = random.int(i + 1);
        [this.deck[i], this.deck[j]] = [this.deck[j]!, this.deck[i]!];
      }
    }
    const possible = new Map(this.possibleFaults().map((f) => [f.kind, f]));
    const index = this.deck.findIndex((kind) => possible.has(kind));
    if (index < 0) return null;
    return possible.get(this.deck.splice(index, 1)[0]!)!;
  }

  private possibleFaults(): Fault[] {
    const { cluster, random } = this.options;
    const faults: Fault[] = [];
    const running = (slots: ProcessSlot[]) => slots.filter((s) => s.state === 'running');
    // A worker a fault is waiting to hit counts as hit already.
    const workers = running(cluster.workers).filter((w) => !this.waitingToHit.has(w));
    const gateways = running(cluster.gateways);
    if (workers.length >= 2) {
      const worker = random.pick(workers);
      faults.push({
        kind: 'worker-kill',
        target: worker.name,
        run: () => this.whileHolding(worker, () => this.killAndRestart(worker, random.between(500, 2000))),
      });
      faults.push({
        kind: 'worker-stop',
        target: worker.name,
        run: () => this.whileHolding(worker, () => this.pauseAndResume(worker, random.between(2500, 4000))),
      });
    }
    if (gateways.length >= 2) {
      const gateway = random.pick(gateways);
      faults.push({ kind: 'gateway-kill', target: gateway.name, run: () => this.killAndRestart(gateway, random.between(500, 2000)) });
    }
    if (!this.redisBusy) {
      faults.push({ kind: 'redis-restart', target: 'redis', run: () => this.redisFault(() => this.restartRedis(random.between(500, 2000))) });
      faults.push({ kind: 'redis-kill-pubsub', target: 'redis', run: () => this.redisFault(() => this.killPubsubClients()) });
    }
    if (!this.postgresBusy) {
      faults.push({ kind: 'postgres-restart', target: 'postgres', run: () => this.postgresFault(() => this.restartPostgres(random.between(1000, 3000))) });
      faults.push({ kind: 'postgres-terminate', target: 'postgres', run: () => this.postgresFault(() => this.terminateConnections()) });
    }
    return faults;
  }

  /**
   * Runs a worker fault while the worker holds claimed rows (it holds them for milliseconds
   * at a time, so a fault at a random moment would mostly hit an idle worker): the worker
   * is frozen (SIGSTOP) the moment it is seen holding some and, if it still does once a
   * statement it had sent has finished, hit while frozen; otherwise let go and watched
   * again, for up to WAIT_FOR_CLAIM_MS. The record says how many rows it held.
   */
  private async whileHolding(slot: ProcessSlot, fault: () => Promise<string>): Promise<string> {
    const pid = slot.proc?.pid;
    if (pid === undefined) return fault();
    this.waitingToHit.add(slot);
    try {
      return await this.hitWhileHolding(slot, pid, fault);
    } finally {
      this.waitingToHit.delete(slot);
    }
  }

  private async hitWhileHolding(slot: ProcessSlot, pid: number, fault: () => Promise<string>): Promise<string> {
    const workerId = `${hostname()}-${pid}`; // the worker's default WORKER_ID
    const held = async () =>
      (await this.chat<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE status = 'in_progress' AND locked_by = ${workerId}`)[0]!.n;
    const deadline = Date.now() + WAIT_FOR_CLAIM_MS;
    let heldAtFault = 0;
    while (Date.now() < deadline && slot.proc?.pid === pid) {
      const n = await held().catch(() => null);
      if (n === null) {
        await sleep(50); // PostgreSQL may be down: ask less often
        continue;
      }
      if (n === 0) {
        await sleep(2);
        continue;
      }
      slot.pause();
      await sleep(30);
      heldAtFault = (await held().catch(() => null)) ?? 0;
      if (heldAtFault > 0) break;
      slot.resume();
    }
    this.heldByFaultedWorkers.push(heldAtFault);
    // kill() works on a frozen process; pauseAndResume() keeps it frozen and lets it go after its pause.
    return `${await fault()}; holding ${heldAtFault} claimed rows`;
  }

  /** Per worker fault: the claimed rows the worker held when it was hit. */
  readonly heldByFaultedWorkers: number[] = [];
  private readonly waitingToHit = new Set<ProcessSlot>();

  private async killAndRestart(slot: ProcessSlot, downMs: number): Promise<string> {
    const before = slot.proc ? `pid ${slot.proc.pid}${slot.port ? ` :${slot.port}` : ''}` : 'none';
    await slot.kill();
    await sleep(downMs);
    await slot.start();
    return `SIGKILL ${before}, down ${downMs} ms, back as pid ${slot.proc?.pid}${slot.proc?.port ? ` :${slot.proc.port}` : ''}`;
  }

  private async pauseAndResume(slot: ProcessSlot, pausedMs: number): Promise<string> {
    const pid = slot.proc?.pid;
    slot.pause();
    await sleep(pausedMs);
    slot.resume();
    return `SIGSTOP pid ${pid} for ${pausedMs} ms, then SIGCONT`;
  }

  private async redisFault(fault: () => Promise<string>): Promise<string> {
    this.redisBusy = true;
    try {
      return await fault();
    } finally {
      this.redisBusy = false;
    }
  }

  private async restartRedis(downMs: number): Promise<string> {
    await this.options.cluster.redis.restart(downMs);
    return `down ${downMs} ms`;
  }

  private async killPubsubClients(): Promise<string> {
    const redis = new Redis(this.options.cluster.redis.url, { maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: true });
    redis.on('error', () => {});
    try {
      await redis.connect();
      const killed = await redis.client('KILL', 'TYPE', 'pubsub');
      return `CLIENT KILL TYPE pubsub: ${String(killed)} connections`;
    } finally {
      redis.disconnect();
    }
  }

  private async postgresFault(fault: () => Promise<string>): Promise<string> {
    this.postgresBusy = true;
    try {
      return await this.options.postgresGate.run(fault);
    } finally {
      this.postgresBusy = false;
    }
  }

  private async restartPostgres(downMs: number): Promise<string> {
    // pg_ctl runs synchronously (private-services.ts): this process stalls for its ~0.1–0.3 s.
    await this.options.cluster.postgres.restart(downMs);
    return `pg_ctl stop -m fast, down ${downMs} ms`;
  }

  private async terminateConnections(): Promise<string> {
    const rows = await this.admin<{ terminated: boolean }[]>`
      SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
      WHERE datname = ${this.databaseName} AND pid <> pg_backend_pid()`;
    return `pg_terminate_backend: ${rows.filter((r) => r.terminated).length} connections`;
  }
}
