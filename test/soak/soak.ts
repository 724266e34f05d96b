// The soak run (`npm run soak`, issue 6): minutes of steady chat through a gateway process
// and a chat worker process, with members leaving and coming back all the time. At the
// end every member must hold every message of its room (live while connected, backfill
// after a reconnect), no connection may see a message twice or out of order, the
// processes' logs must be clean, and their memory must stay flat.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from 'postgres';
import WebSocket from 'ws';
import { createFreshDatabase } from '../../shared/db/fresh-database';
import { logProblems, residentBytes, startGatewayProcess, startWorkerProcess, type RunningProcess } from '../support/child-process';
import { freePort } from '../../shared/net/free-port';

export interface SoakOptions {
  /** How long traffic runs, after start-up and before the final drain. */
  seconds: number;
  /** A PostgreSQL server URL: the soak creates its own database there and drops it afterwards. */
  databaseUrl: string;
  redisUrl: string;
  rooms: number;
  membersPerRoom: number;
  /** Each member sends one message about this often (default rate limit: 30 ops per 10 s). */
  sendIntervalMs: number;
  /** About this often one member leaves (half of them by dropping the TCP connection) and comes back 0.5–3 s later. */
  leaveIntervalMs: number;
  /** The most a process's RSS may grow from just after warm-up to the end. */
  maxRssGrowthBytes: number;
  pubsubMode: 'perconv' | 'global';
  log(line: string): void;
}

export interface ProcessMemory {
  /** RSS from /proc/<pid>/status, just after warm-up and at the end. */
  startBytes: number;
  endBytes: number;
  maxBytes: number;
  /** RSS: mean of the last samples minus mean of the first samples after warm-up (GC noise smoothed). */
  growthBytes: number;
  samples: number;
  /** V8 heap in use (from /metrics), lowest in the first and in the last third of the run: live data after GC. */
  heapFloorStartBytes: number;
  heapFloorEndBytes: number;
}

export interface SoakReport {
  seconds: number;
  messagesAccepted: number;
  messagesStored: number;
  /** Σ over members of the room's stored messages: what members must hold between them. */
  deliveriesExpected: number;
  deliveriesReceived: number;
  missing: number;
  duplicatesWithinConnection: number;
  outOfOrderWithinConnection: number;
  acceptedButNotStored: number;
  /** Error replies and failed reconnects the clients saw. */
  clientErrors: string[];
  reconnects: number;
  /** Connections the gateway closed on its own, by close code. */
  unexpectedCloses: Record<string, number>;
  memory: { gateway: ProcessMemory; worker: ProcessMemory };
  logProblems: string[];
  warnings: number;
  /** For members that miss messages: which, whether they were connected, and the rows' outbox state. */
  missingDetails: string[];
  failures: string[];
}

const jitter = (ms: number) => ms * (0.75 + Math.random() * 0.5);

type Reply = Record<string, unknown> & { success?: boolean; error?: string; message_id?: number };

/** One chat user: a connection that comes and goes, and everything it ever received. */
class Member {
  ws: WebSocket | null = null;
  joined = false;
  away = false;
  connections = 0;
  readonly received = new Set<number>();
  private seenThisConnection = new Set<number>();
  private lastIdThisConnection = 0;
  duplicates = 0;
  outOfOrder = 0;
  /** Close codes of connections the gateway ended while the member meant to stay. */
  readonly unexpectedCloses: number[] = [];
  private leaving = false;
  maxReceived = 0;
  sending: Promise<void> | null = null;
  private pending = new Map<string, (reply: Reply | null) => void>();
  private nextRequest = 0;
  private returnTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly userId: string,
    readonly roomId: string,
    private readonly port: number,
    /** Called when the gateway closed the connection on its own: the member reconnects. */
    private readonly onDropped: (member: Member) => void,
  ) {}

  async connect(): Promise<void> {
    this.away = false;
    this.leaving = false;
    const ws = new WebSocket(`ws://127.0.0.1:${this.port}/`, { perMessageDeflate: false });
    this.ws = ws;
    this.seenThisConnection = new Set();
    this.lastIdThisConnection = 0;
    ws.on('message', (data) => this.onFrame(JSON.parse(data.toString()) as Reply & { op?: string; roomId?: string; message?: { id: number } }));
    ws.on('close', (code) => {
      if (this.ws === ws) {
        this.ws = null;
        this.joined = false;
        if (!this.leaving) {
          this.unexpectedCloses.push(code);
          this.onDropped(this);
        }
      }
      for (const resolve of this.pending.values()) resolve(null);
      this.pending.clear();
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    this.connections++;
    const auth = await this.request({ op: 'auth', token: this.userId });
    if (!auth?.success) throw new Error(`auth failed: ${JSON.stringify(auth)}`);
    const join = await this.request({ op: 'join', room_id: this.roomId });
    if (!join?.success) throw new Error(`join failed: ${JSON.stringify(join)}`);
    this.joined = true;
  }

  private onFrame(frame: Reply & { op?: string; roomId?: string; message?: { id: number } }) {
    if (frame.op === 'event' && frame.roomId === this.roomId && typeof frame.message?.id === 'number') {
      const id = frame.message.id;
      if (this.seenThisConnection.has(id)) this.duplicates++;
      else if (id < this.lastIdThisConnection) this.outOfOrder++;
      this.seenThisConnection.add(id);
      this.lastIdThisConnection = Math.max(this.lastIdThisConnection, id);
      this.received.add(id);
      this.maxReceived = Math.max(this.maxReceived, id);
      return;
    }
    if (typeof frame.request_id === 'string') {
      this.pending.get(frame.request_id)?.(frame);
      this.pending.delete(frame.request_id);
    }
  }

  /** Resolves with the reply, or null if the connection closed first. */
  request(body: Record<string, unknown>): Promise<Reply | null> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.resolve(null);
    const id = `r${this.nextRequest++}`;
    const reply = new Promise<Reply | null>((resolve) => this.pending.set(id, resolve));
    ws.send(JSON.stringify({ ...body, request_id: id }));
    return reply;
  }

  /** Leaves (closing politely or dropping the TCP connection), and comes back after `awayMs`. */
  leave(awayMs: number, abrupt: boolean, comeBack: () => Promise<void>): void {
    this.away = true;
    this.joined = false;
    this.leaving = true;
    if (abrupt) this.ws?.terminate();
    else this.ws?.close();
    this.returnTimer = setTimeout(() => {
      this.returnTimer = null;
      void comeBack();
    }, awayMs);
  }

  /** Cancels a scheduled return (the soak is ending: it comes back now instead). */
  cancelReturn(): boolean {
    if (!this.returnTimer) return false;
    clearTimeout(this.returnTimer);
    this.returnTimer = null;
    return true;
  }

  close(): void {
    this.cancelReturn();
    this.leaving = true;
    this.ws?.close();
  }
}

function memoryOf(samples: number[], heap: number[]): ProcessMemory {
  const window = Math.max(1, Math.min(5, Math.floor(samples.length / 3)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const third = Math.max(1, Math.floor(heap.length / 3));
  return {
    startBytes: samples[0] ?? 0,
    endBytes: samples.at(-1) ?? 0,
    maxBytes: Math.max(0, ...samples),
    growthBytes: samples.length ? Math.round(mean(samples.slice(-window)) - mean(samples.slice(0, window))) : 0,
    samples: samples.length,
    heapFloorStartBytes: heap.length ? Math.min(...heap.slice(0, third)) : 0,
    heapFloorEndBytes: heap.length ? Math.min(...heap.slice(-third)) : 0,
  };
}

/** V8 heap in use, from a process's Prometheus endpoint (prom-client's default metrics). */
async function heapUsedBytes(metricsUrl: string): Promise<number | null> {
  try {
    const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(2000) })).text();
    const match = text.match(/^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const { log } = options;
  const db = await createFreshDatabase(options.databaseUrl, 'arcyou_soak', { max: 4 });
  const processes: RunningProcess[] = [];
  const members: Member[] = [];
  try {
    const env = { DATABASE_URL: db.url, REDIS_URL: options.redisUrl, PUBSUB_MODE: options.pubsubMode, LOG_LEVEL: 'info' };
    const gateway = await startGatewayProcess(env);
    const workerMetricsPort = await freePort();
    const worker = await startWorkerProcess({ ...env, METRICS_HOST: '127.0.0.1', METRICS_PORT: String(workerMetricsPort) });
    processes.push(gateway, worker);
    log(
      `gateway pid ${gateway.pid} on port ${gateway.port}, worker pid ${worker.pid}; ${options.rooms} rooms × ${options.membersPerRoom} members, one message per member every ~${options.sendIntervalMs} ms, one leave every ~${options.leaveIntervalMs} ms`,
    );

    const clientErrors: string[] = [];
    let reconnects = 0;
    let running = true;
    const comeBack = (member: Member) => async () => {
      try {
        await member.connect();
        reconnects++;
      } catch (err) {
        clientErrors.push(`reconnect: ${(err as Error).message}`);
      }
    };
    const onDropped = (member: Member) => {
      if (running) setTimeout(() => void comeBack(member)(), 200);
    };

    for (let r = 0; r < options.rooms; r++) {
      const users = Array.from({ length: options.membersPerRoom }, () => randomUUID());
      const [room] = await db.sql<{ id: string }[]>`INSERT INTO arcyou_chat_rooms (name) VALUES (${`soak ${r}`}) RETURNING id`;
      await db.sql`INSERT INTO arcyou_chat_members (room_id, user_id) SELECT ${room!.id}, unnest(${users}::uuid[])`;
      for (const userId of users) members.push(new Member(userId, room!.id, gateway.port, onDropped));
    }
    await Promise.all(members.map((m) => m.connect()));

    const accepted = new Set<number>();

    // Each member: send, and now and then acknowledge what it has read.
    let sequence = 0;
    const sendLoops = members.map(async (member) => {
      let nextAck = Date.now() + jitter(2000);
      await sleep(Math.random() * options.sendIntervalMs);
      while (running) {
        if (member.joined && !member.sending) {
          const n = sequence++;
          member.sending = member
            .request({ op: 'send', room_id: member.roomId, content: { text: `soak ${n}`, n } })
            .then((reply) => {
              if (reply?.success && typeof reply.message_id === 'number') accepted.add(reply.message_id);
              else if (reply) clientErrors.push(String(reply.error));
            })
            .finally(() => (member.sending = null));
          if (Date.now() >= nextAck && member.maxReceived > 0) {
            void member.request({ op: 'ack', room_id: member.roomId, last_read_message_id: member.maxReceived });
            nextAck = Date.now() + jitter(2000);
          }
        }
        await sleep(jitter(options.sendIntervalMs));
      }
    });

    // Leaves and returns.
    const churn = (async () => {
      while (running) {
        await sleep(jitter(options.leaveIntervalMs));
        if (!running) break;
        const candidates = members.filter((m) => m.joined && !m.sending);
        const member = candidates[Math.floor(Math.random() * candidates.length)];
        if (member) member.leave(500 + Math.random() * 2500, Math.random() < 0.5, comeBack(member));
      }
    })();

    // Memory, after a warm-up.
    const warmUpMs = Math.min(30_000, Math.max(5_000, options.seconds * 150));
    const rss = { gateway: [] as number[], worker: [] as number[] };
    const heap = { gateway: [] as number[], worker: [] as number[] };
    const metricsUrls = { gateway: `http://127.0.0.1:${gateway.port}/metrics`, worker: `http://127.0.0.1:${workerMetricsPort}/metrics` };
    const started = Date.now();
    const sampler = setInterval(() => {
      if (Date.now() - started < warmUpMs) return;
      try {
        rss.gateway.push(residentBytes(gateway.pid));
        rss.worker.push(residentBytes(worker.pid));
      } catch {
        // a process that died is reported below
      }
      for (const name of ['gateway', 'worker'] as const) {
        void heapUsedBytes(metricsUrls[name]).then((bytes) => bytes !== null && heap[name].push(bytes));
      }
    }, 1000);
    let lastProgress = started;
    while (Date.now() - started < options.seconds * 1000) {
      await sleep(250);
      if (!gateway.alive() || !worker.alive()) break;
      if (Date.now() - lastProgress >= 30_000) {
        lastProgress = Date.now();
        log(
          `  ${Math.round((lastProgress - started) / 1000)} s: ${accepted.size} messages accepted, ${reconnects} reconnects, gateway RSS ${mb(residentBytes(gateway.pid))}, worker RSS ${mb(residentBytes(worker.pid))}`,
        );
      }
    }
    clearInterval(sampler);
    running = false;
    await Promise.all([...sendLoops, churn]);
    await Promise.all(members.map((m) => m.sending));

    // Drain: everyone comes back, then every member must hold every message of its room.
    await Promise.all(members.filter((m) => m.cancelReturn()).map((m) => comeBack(m)()));
    const stored = await db.sql<{ id: number; room_id: string }[]>`SELECT id, room_id FROM arcyou_chat_messages ORDER BY id`;
    const byRoom = new Map<string, number[]>();
    for (const row of stored) {
      const ids = byRoom.get(row.room_id) ?? [];
      ids.push(row.id);
      byRoom.set(row.room_id, ids);
    }
    const missingFor = (m: Member) => (byRoom.get(m.roomId) ?? []).filter((id) => !m.received.has(id));
    const drainDeadline = Date.now() + 30_000;
    while (members.some((m) => missingFor(m).length > 0) && Date.now() < drainDeadline) await sleep(100);

    const missingDetails = await describeMissing(db.sql, members, missingFor);
    const storedIds = new Set(stored.map((r) => r.id));
    const deliveriesExpected = members.reduce((sum, m) => sum + (byRoom.get(m.roomId)?.length ?? 0), 0);
    const missing = members.reduce((sum, m) => sum + missingFor(m).length, 0);
    for (const m of members) m.close();

    const exitCodes = await Promise.all(processes.map((p) => p.stop()));
    const problems = processes.flatMap((p) => {
      const found = logProblems(p.output());
      return [...found.crashes, ...found.errors];
    });
    const warnings = processes.reduce(
      (sum, p) =>
        sum +
        p
          .output()
          .split('\n')
          .filter((line) => line.includes('"level":40')).length,
      0,
    );
    const memory = { gateway: memoryOf(rss.gateway, heap.gateway), worker: memoryOf(rss.worker, heap.worker) };

    const report: SoakReport = {
      seconds: options.seconds,
      messagesAccepted: accepted.size,
      messagesStored: stored.length,
      deliveriesExpected,
      deliveriesReceived: deliveriesExpected - missing,
      missing,
      duplicatesWithinConnection: members.reduce((sum, m) => sum + m.duplicates, 0),
      outOfOrderWithinConnection: members.reduce((sum, m) => sum + m.outOfOrder, 0),
      acceptedButNotStored: [...accepted].filter((id) => !storedIds.has(id)).length,
      clientErrors,
      reconnects,
      unexpectedCloses: members
        .flatMap((m) => m.unexpectedCloses)
        .reduce<Record<string, number>>((acc, code) => ({ ...acc, [code]: (acc[code] ?? 0) + 1 }), {}),
      memory,
      logProblems: problems.slice(0, 20),
      warnings,
      missingDetails,
      failures: [],
    };
    const fail = (condition: boolean, reason: string) => condition && report.failures.push(reason);
    fail(
      exitCodes.some((code) => code !== 0),
      `a process did not stop cleanly (exit codes ${exitCodes.join(', ')})`,
    );
    fail(report.messagesAccepted === 0, 'no message was accepted');
    fail(report.missing > 0, `${report.missing} deliveries missing`);
    fail(report.duplicatesWithinConnection > 0, `${report.duplicatesWithinConnection} messages delivered twice on one connection`);
    fail(report.outOfOrderWithinConnection > 0, `${report.outOfOrderWithinConnection} messages out of order on one connection`);
    fail(report.acceptedButNotStored > 0, `${report.acceptedButNotStored} sends acknowledged but not stored`);
    fail(report.clientErrors.length > 0, `${report.clientErrors.length} errors: ${[...new Set(report.clientErrors)].slice(0, 5).join('; ')}`);
    fail(Object.keys(report.unexpectedCloses).length > 0, `the gateway closed connections on its own: ${JSON.stringify(report.unexpectedCloses)}`);
    fail(report.logProblems.length > 0, `${problems.length} crash or error lines in the process logs`);
    for (const [name, m] of Object.entries(memory)) {
      fail(m.samples < 3, `${name}: too few memory samples (${m.samples}); run longer than the warm-up`);
      fail(m.growthBytes > options.maxRssGrowthBytes, `${name} RSS grew ${mb(m.growthBytes)} (bound ${mb(options.maxRssGrowthBytes)})`);
    }
    return report;
  } catch (err) {
    // What the processes said is usually the explanation.
    const said = processes.map(
      (p) =>
        `${p.child.spawnargs.at(-1)}:\n${p
          .output()
          .split('\n')
          .filter((l) => /"level":[4-6]\d/.test(l) || !l.startsWith('{'))
          .slice(-20)
          .join('\n')}`,
    );
    throw new Error(`${(err as Error).message}\n${said.join('\n')}`, { cause: err });
  } finally {
    for (const m of members) m.close();
    for (const p of processes) if (p.alive()) p.child.kill('SIGKILL');
    await db.drop();
  }
}

/** One line per member that misses messages, for the report: enough to tell a lost publish from a stuck room. */
async function describeMissing(sql: Sql, members: readonly Member[], missingFor: (m: Member) => number[]): Promise<string[]> {
  const lines: string[] = [];
  for (const m of members) {
    const ids = missingFor(m);
    if (ids.length === 0) continue;
    const rows = await sql<{ id: number; seq: number; outbox: string | null }[]>`
      SELECT m.id, m.seq, (SELECT string_agg(o.status || '/' || o.attempts, ',') FROM outbox o WHERE o.type = 'message.created' AND (o.payload->>'id')::bigint = m.id) AS outbox
      FROM arcyou_chat_messages m WHERE m.id = ANY(${ids.slice(0, 3)}::bigint[]) ORDER BY m.id`;
    const received = [...m.received].sort((a, b) => a - b);
    lines.push(
      `room ${m.roomId.slice(0, 8)} user ${m.userId.slice(0, 8)}: ${ids.length} missing, first ${rows.map((r) => `${r.id} (seq ${r.seq}, outbox ${r.outbox ?? 'retired'})`).join(', ')}; ` +
        `received ${received.length}, last ${received.at(-1) ?? 'none'}; ${m.connections} connections, joined at the end: ${m.joined}`,
    );
  }
  return lines.slice(0, 25);
}

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function formatReport(report: SoakReport): string {
  const mem = (m: ProcessMemory) =>
    `${mb(m.startBytes)} → ${mb(m.endBytes)} (max ${mb(m.maxBytes)}, smoothed growth ${mb(m.growthBytes)}, ${m.samples} samples); V8 heap floor ${mb(m.heapFloorStartBytes)} → ${mb(m.heapFloorEndBytes)}`;
  return [
    `soak: ${report.seconds} s of traffic`,
    `  messages: ${report.messagesAccepted} accepted, ${report.messagesStored} stored, ${report.acceptedButNotStored} acknowledged but not stored`,
    `  deliveries: ${report.deliveriesReceived} of ${report.deliveriesExpected} received (${report.missing} missing); ${report.duplicatesWithinConnection} duplicates and ${report.outOfOrderWithinConnection} out of order within a connection`,
    `  connections: ${report.reconnects} reconnects after leaving; closed by the gateway: ${JSON.stringify(report.unexpectedCloses)}`,
    `  gateway RSS: ${mem(report.memory.gateway)}`,
    `  worker RSS:  ${mem(report.memory.worker)}`,
    `  logs: ${report.logProblems.length} crash/error lines, ${report.warnings} warnings; client errors (error replies, failed reconnects): ${report.clientErrors.length}`,
    ...report.missingDetails.map((line) => `  missing: ${line}`),
    report.failures.length ? `  FAILED:\n    ${report.failures.join('\n    ')}` : '  passed',
  ].join('\n');
}
