// The randomized fault run (`npm run chaos`): steady chat from resilient clients
// through 2 gateways and 2 chat workers while processes are killed and frozen, Redis and
// PostgreSQL restarted, their connections cut, and members removed and re-added. Then
// everything comes back, the run waits for every client to catch up, and the checker
// (checker.ts) judges what each connection saw against docs/delivery.md.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRandom, type Random } from '../support/frame-fuzzer';
import { checkRun, type Failure, type LatencySummary, type SlowDelivery } from './checker';
import { Cluster } from './cluster';
import { FaultInjector } from './faults';
import { checkLogs, type ProblemLine } from './log-check';
import { MembershipChurn, type ChurnCounts } from './membership';
import { Mutex } from './mutex';
import { ResilientClient } from './resilient-client';
import { SdkMember, type SdkFailure } from './sdk-member';
import { addSdkMembers, columnExists, createMembers, lastSeqByRoom, loadStored, outboxLeft } from './database';
import type { AckedSend, FaultRecord, Member } from './trace';
import type { Sql } from '../../shared/db/client';

export type PubsubMode = 'global' | 'perconv';

export interface ChaosOptions {
  pubsubMode: PubsubMode;
  seed: number;
  /** Seconds of traffic with faults (after start-up, before the drain). */
  seconds: number;
  rooms: number;
  membersPerRoom: number;
  /** Each member sends about this often (one send in flight at a time). */
  sendIntervalMs: number;
  faultGapMs: [number, number];
  churnIntervalMs: number;
  /** How long the drain may take before the run gives up waiting. */
  drainSeconds: number;
  log(line: string): void;
  /** Ends the traffic early (Ctrl-C); the run still cleans up and checks. */
  signal?: AbortSignal;
  /** A failed run writes everything it recorded (traces, changes, faults, stored messages) here as JSON. */
  traceDir?: string;
}

/** The settings every gateway and worker runs with (the last three are the delivery contract's). */
export const CHAOS_PROCESS_ENV: Record<string, string> = {
  LOG_LEVEL: 'info',
  RL_BUCKET_CAPACITY: '100000',
  RL_REFILL_MS: '1000',
  BACKFILL_LIMIT: '10000',
  LOCK_SECONDS: '2',
  REAP_INTERVAL_MS: '500',
  POLL_INTERVAL_MS: '200',
  BACKOFF_BASE_MS: '100',
  BACKOFF_CAP_MS: '1000',
  MAX_ATTEMPTS: '1000',
  DELIVERY_HOLD_MS: '100',
  DELIVERY_GAP_TIMEOUT_MS: '60000',
  BUS_HEARTBEAT_MS: '500',
};

/** How long a connection under a removed membership may go without its member.removed before it counts as never told. */
const REMOVAL_NOTICE_GRACE_MS = 15_000;

export interface RunFailure extends Omit<Failure, 'kind'> {
  kind: Failure['kind'] | SdkFailure['kind'] | 'log' | 'process' | 'drain' | 'coverage';
}

export interface ChaosReport {
  pubsubMode: PubsubMode;
  seed: number;
  trafficSeconds: number;
  /** When the faults began (Date.now()): the fault timeline counts from here. */
  trafficStartedAt: number;
  wallSeconds: number;
  rooms: number;
  membersPerRoom: number;
  /** The schema had seq; without it the checker derived seqs from message ids. */
  hasSeq: boolean;
  messages: { acked: number; stored: number; unknown: number; unknownStored: number; refused: Record<string, number> };
  deliveries: { expected: number; received: number };
  /** Members on the client SDK (one per room, not churned): what their application got. */
  sdk: { members: number; sends: number; resolved: number; messagesSeen: number };
  connections: { total: number; reconnects: number; connectFailures: number; joinErrors: Record<string, number> };
  faults: FaultRecord[];
  faultCounts: Record<string, number>;
  /** Per worker fault: the claimed rows the worker held when it was hit. */
  heldByFaultedWorkers: number[];
  membership: ChurnCounts;
  gapNotices: number;
  earlyEvictions: number;
  latencyMs: { all: LatencySummary; live: LatencySummary };
  slowest: SlowDelivery[];
  /** Send replies that took longer than 5 s (the database was away). */
  slowReplies: number;
  logs: { explained: ProblemLine[]; unexplained: ProblemLine[] };
  failedStarts: string[];
  exitCodes: Record<string, number | null | 'none'>;
  drainMs: number;
  failures: RunFailure[];
  /** Where a failed run's recording went. */
  traceFile: string | null;
}

const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
};

/** Independent random streams from one seed, so that the fault schedule does not shift when clients draw differently. */
function streams(seed: number) {
  const derive = (salt: number) => createRandom((seed ^ Math.imul(salt, 0x9e3779b1)) >>> 0);
  return { faults: derive(1), churn: derive(2), setup: derive(3), client: (i: number) => derive(100 + i), sdk: (i: number) => derive(10_000 + i) };
}

function writeRecording(options: ChaosOptions, recording: Record<string, unknown>): string {
  const file = join(options.traceDir!, `chaos-${options.pubsubMode}-${options.seed}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(recording));
  return file;
}

/** Waits, bounded, until the outbox is empty and every client holds its room up to the last stored seq. */
async function drainRun(
  sql: Sql,
  members: Member[],
  clients: ResilientClient[],
  sdkMembers: Array<{ member: SdkMember; roomId: string }>,
  hasSeq: boolean,
  drainSeconds: number,
): Promise<{ ms: number; failure: RunFailure | null }> {
  const start = Date.now();
  for (;;) {
    const [left, lastSeqs] = await patiently(() => Promise.all([outboxLeft(sql), lastSeqByRoom(sql, hasSeq)]));
    // Without seq in the frames a client cannot tell how far it is: wait for its join only, then a little.
    const behind = clients.flatMap((c, i) => {
      const last = lastSeqs.get(members[i]!.roomId) ?? 0;
      return c.caughtUp(hasSeq ? last : 0) ? [] : [`${c.label} holds up to seq ${c.heldUpTo()} of ${last}`];
    });
    for (const { member, roomId } of sdkMembers) {
      const last = lastSeqs.get(roomId) ?? 0;
      if (hasSeq && !member.caughtUp(last)) behind.push(`${member.label} (SDK) has up to seq ${member.seen.at(-1) ?? 0} of ${last}`);
    }
    if (left.pending + left.inProgress === 0 && behind.length === 0) {
      if (!hasSeq) await sleep(2000);
      return { ms: Date.now() - start, failure: null };
    }
    if (Date.now() - start > drainSeconds * 1000) {
      const detail = `not caught up after ${drainSeconds} s: outbox ${left.pending} pending, ${left.inProgress} in_progress; ${behind.slice(0, 8).join('; ')}`;
      return { ms: Date.now() - start, failure: { kind: 'drain', detail } };
    }
    await sleep(200);
  }
}

/** Retries a query while PostgreSQL is coming back. */
async function patiently<T>(query: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await query();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** From this many worker faults on, at least one must have hit a worker holding claimed rows (a short run may have two). */
const MIN_WORKER_FAULTS_FOR_COVERAGE = 5;

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { log } = options;
  const wallStart = Date.now();
  const random = streams(options.seed);
  const cluster = await Cluster.start({ gateways: 2, workers: 2, env: CHAOS_PROCESS_ENV, pubsubMode: options.pubsubMode });
  const postgresGate = new Mutex();
  const faults = new FaultInjector({ cluster, random: random.faults, gapMs: options.faultGapMs, postgresGate, log });
  const clients: ResilientClient[] = [];
  const sdkMembers: Array<{ member: SdkMember; roomId: string }> = [];
  let churn: MembershipChurn | null = null;
  try {
    const sql = cluster.db.sql;
    const hasSeq = await columnExists(sql, 'arcyou_chat_messages', 'seq');
    const hasMembershipId = await columnExists(sql, 'arcyou_chat_members', 'membership_id');
    if (!hasSeq) log('  the schema has no seq (arcyou_chat_messages.seq): seqs are derived from message ids, and failures are expected');
    const members = await createMembers(sql, options.rooms, options.membersPerRoom);
    const acked: AckedSend[] = [];
    const pickGateway = (r: Random) => () => {
      const up = cluster.runningGateways();
      return up.length ? r.pick(up) : null;
    };
    members.forEach((member, i) => {
      const r = random.client(i);
      clients.push(
        new ResilientClient({ member, pickGateway: pickGateway(r), random: r, sendIntervalMs: options.sendIntervalMs, onAck: (a) => acked.push(a) }),
      );
    });
    (await addSdkMembers(sql, [...new Set(members.map((m) => m.roomId))])).forEach((m, i) => {
      const r = random.sdk(i);
      sdkMembers.push({ member: new SdkMember({ ...m, pickGateway: pickGateway(r), random: r, sendIntervalMs: options.sendIntervalMs }), roomId: m.roomId });
    });
    const byUser = new Map(members.map((m, i) => [m.userId, clients[i]!]));
    for (const client of clients) client.start();
    const allJoinedBy = Date.now() + 20_000;
    while (!clients.every((c) => c.caughtUp(0))) {
      if (Date.now() > allJoinedBy)
        throw new Error(
          `clients did not all join within 20 s: ${clients
            .filter((c) => !c.caughtUp(0))
            .map((c) => c.label)
            .join(', ')}`,
        );
      await sleep(50);
    }
    log(
      `  ${members.length} clients joined; gateways ${cluster
        .runningGateways()
        .map((g) => `${g.name} :${g.port}`)
        .join(', ')}`,
    );

    // Traffic, faults and churn.
    churn = new MembershipChurn({
      sql,
      members,
      clients: byUser,
      random: random.churn,
      intervalMs: options.churnIntervalMs,
      flipShare: 0.25,
      postgresGate,
      hasSeq,
      hasMembershipId,
    });
    const trafficStart = Date.now();
    faults.start();
    churn.start();
    for (const { member } of sdkMembers) member.start();
    while (Date.now() - trafficStart < options.seconds * 1000 && !options.signal?.aborted) await sleep(100);
    const trafficSeconds = (Date.now() - trafficStart) / 1000;
    log(`  traffic over after ${trafficSeconds.toFixed(1)} s: stopping faults, churn and sends`);
    await Promise.all([faults.stop(), churn.stop()]);
    await Promise.all(clients.map((c) => c.stopSending()));
    await cluster.wholeAgain();
    // Their offline sends go out once a gateway is back: answered within the drain's time.
    await Promise.all(sdkMembers.map(({ member }) => member.stopSending(options.drainSeconds * 1000)));

    const failures: RunFailure[] = [];
    const drain = await drainRun(sql, members, clients, sdkMembers, hasSeq, options.drainSeconds);
    if (drain.failure) failures.push(drain.failure);
    const drainMs = drain.ms;
    log(`  drained in ${drainMs} ms`);

    const endedAt = Date.now();
    const [stored, outbox] = await patiently(() => Promise.all([loadStored(sql, hasSeq), outboxLeft(sql)]));
    await Promise.all(clients.map((c) => c.close()));
    for (const { member } of sdkMembers) member.close();
    const shutdown = { kind: 'shutdown', target: '(SIGTERM at the end of the run)', startedAt: Date.now(), endedAt: 0 };
    const exitCodes = await cluster.stopProcesses();
    shutdown.endedAt = Date.now();

    const result = checkRun({
      members,
      connections: clients.flatMap((c) => c.connections),
      changes: churn.changes,
      stored,
      acked,
      outbox,
      endedAt,
      removalNoticeGraceMs: REMOVAL_NOTICE_GRACE_MS,
    });
    failures.push(...result.failures);
    for (const { member } of sdkMembers) failures.push(...member.check(stored));
    const logs = checkLogs(cluster.logs(), [...faults.records, shutdown], shutdown.endedAt);
    for (const line of logs.unexplained) failures.push({ kind: 'log', detail: `${line.process} (pid ${line.pid}): ${line.text.slice(0, 400)}` });
    for (const exit of cluster.unexpectedExits)
      failures.push({
        kind: 'process',
        detail: `${exit.process} (pid ${exit.pid}) exited on its own with code ${exit.code} at +${((exit.at - trafficStart) / 1000).toFixed(1)}s${exit.reason ? `: ${exit.reason}` : ''}`,
      });
    for (const [name, code] of Object.entries(exitCodes))
      if (code !== 0) failures.push({ kind: 'process', detail: `${name} did not stop cleanly on SIGTERM (exit ${code})` });
    // A run with many worker faults that never caught a worker holding rows did not test the reaper's hand-over.
    const held = faults.heldByFaultedWorkers;
    if (held.length >= MIN_WORKER_FAULTS_FOR_COVERAGE && held.every((n) => n === 0)) {
      failures.push({ kind: 'coverage', detail: `none of ${held.length} worker faults hit a worker holding claimed rows` });
    }

    const storedContent = new Set(stored.map((m) => JSON.stringify([(m.content as { by?: unknown })?.by, (m.content as { chaos?: unknown })?.chaos])));
    const unknown = clients.flatMap((c) => c.unknownSends);
    const refused: Record<string, number> = {};
    const joinErrors: Record<string, number> = {};
    for (const c of clients) {
      add(refused, c.counters.sendsRefused);
      add(joinErrors, c.counters.joinErrors);
    }
    const connects = clients.reduce((sum, c) => sum + c.counters.connects, 0);
    return {
      pubsubMode: options.pubsubMode,
      seed: options.seed,
      trafficSeconds,
      trafficStartedAt: trafficStart,
      wallSeconds: (Date.now() - wallStart) / 1000,
      rooms: options.rooms,
      membersPerRoom: options.membersPerRoom,
      hasSeq,
      messages: {
        acked: acked.length,
        stored: stored.length,
        unknown: unknown.length,
        unknownStored: unknown.filter((c) => storedContent.has(JSON.stringify([c.by, c.chaos]))).length,
        refused,
      },
      deliveries: { expected: result.stats.deliveriesExpected, received: result.stats.deliveriesReceived },
      sdk: {
        members: sdkMembers.length,
        sends: sdkMembers.reduce((sum, { member }) => sum + member.sends.made, 0),
        resolved: sdkMembers.reduce((sum, { member }) => sum + member.sends.resolved, 0),
        messagesSeen: sdkMembers.reduce((sum, { member }) => sum + member.seen.length, 0),
      },
      connections: {
        total: connects,
        reconnects: connects - clients.length,
        connectFailures: clients.reduce((sum, c) => sum + c.counters.connectFailures, 0),
        joinErrors,
      },
      faults: faults.records,
      faultCounts: faults.countsByKind(),
      heldByFaultedWorkers: faults.heldByFaultedWorkers,
      membership: churn.counts,
      gapNotices: result.stats.gapNotices,
      earlyEvictions: result.stats.earlyEvictions,
      latencyMs: result.stats.latency,
      slowest: result.stats.slowest,
      slowReplies: clients.reduce((sum, c) => sum + c.counters.slowReplies, 0),
      logs,
      failedStarts: cluster.slots.flatMap((s) => s.failedStarts.map((reason) => `${s.name}: ${reason}`)),
      exitCodes,
      drainMs,
      failures,
      traceFile:
        failures.length && options.traceDir
          ? writeRecording(options, {
              members,
              connections: clients.flatMap((c) => c.connections),
              changes: churn.changes,
              faults: faults.records,
              acked,
              stored,
              outbox,
              failures,
              trafficStartedAt: trafficStart,
              logs: cluster.logs(),
            })
          : null,
    };
  } finally {
    await Promise.allSettled([faults.close(), churn?.stop()]);
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const { member } of sdkMembers) member.close();
    await cluster.destroy();
  }
}

const ms = (n: number) => `${Math.round(n)} ms`;
const counts = (record: Record<string, number>) =>
  Object.keys(record).length
    ? Object.entries(record)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')
    : 'none';

/** The printed report: figures, the fault timeline, then each failure (at most `perKind` of each kind). */
export function formatReport(report: ChaosReport, perKind = 8): string {
  const t0 = report.trafficStartedAt;
  const lat = (l: LatencySummary) => `p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, max ${ms(l.max)} (${l.count})`;
  const lines = [
    `chaos PUBSUB_MODE=${report.pubsubMode} seed ${report.seed} (replay: CHAOS_SEED=${report.seed} CHAOS_MODES=${report.pubsubMode}): ${report.trafficSeconds.toFixed(1)} s of traffic, ${report.wallSeconds.toFixed(1)} s in all; ${report.rooms} rooms × ${report.membersPerRoom} members, 2 gateways, 2 workers${report.hasSeq ? '' : '; NO seq in the schema'}`,
    `  messages: ${report.messages.acked} acked, ${report.messages.stored} stored; ${report.messages.unknown} sends with unknown outcome (${report.messages.unknownStored} of them stored); refused: ${counts(report.messages.refused)}`,
    `  deliveries: ${report.deliveries.received} of ${report.deliveries.expected} held at the end; drain ${ms(report.drainMs)}`,
    `  SDK members (${report.sdk.members}, one per room): ${report.sdk.sends} sends, ${report.sdk.resolved} answered with the stored message; ${report.sdk.messagesSeen} messages given to the application`,
    `  latency send → other members: first arrival ${lat(report.latencyMs.all)}; live only ${lat(report.latencyMs.live)}; send replies over 5 s: ${report.slowReplies}`,
    ...report.slowest.map(
      (d) =>
        `    slow: room ${d.roomId.slice(0, 8)} seq ${d.seq} at ${d.member} (${d.source}): sent +${((d.sentAt - t0) / 1000).toFixed(1)}s, stored ${d.storedAt === null ? '?' : `+${ms(d.storedAt - d.sentAt)}`}, arrived +${ms(d.arrivedAt - d.sentAt)}`,
    ),
    `  connections: ${report.connections.total} (${report.connections.reconnects} reconnects, ${report.connections.connectFailures} failed connects); join errors: ${counts(report.connections.joinErrors)}`,
    `  faults: ${report.faults.length} (${counts(report.faultCounts)}); process start retries: ${report.failedStarts.length}`,
    `  worker faults: ${report.heldByFaultedWorkers.length}, ${report.heldByFaultedWorkers.filter((n) => n > 0).length} of them hit a worker holding claimed rows (${report.heldByFaultedWorkers.reduce((a, b) => a + b, 0)} rows in all)`,
    `  membership: ${report.membership.removed} removals, ${report.membership.readded} re-adds, ${report.membership.flipped} remove + re-add in one transaction, ${report.membership.skipped} skipped, ${report.membership.readBack} read back`,
    `  gap notices: ${report.gapNotices}; member.removed before the removal's place (allowed, the gateway could not know it): ${report.earlyEvictions}`,
    `  logs: ${report.logs.unexplained.length} unexplained error/crash lines, ${report.logs.explained.length} error lines explained by a fault`,
    `  fault timeline:`,
    ...report.faults.map(
      (f) =>
        `    +${((f.startedAt - t0) / 1000).toFixed(1)}s ${f.kind} ${f.target} (${f.endedAt === null ? 'unfinished' : `${ms(f.endedAt - f.startedAt)}`}): ${f.detail}`,
    ),
  ];
  for (const line of report.logs.explained.slice(0, 5)) lines.push(`  explained (${line.fault}): ${line.process}: ${line.text.slice(0, 240)}`);
  if (!report.failures.length) {
    lines.push('  passed');
    return lines.join('\n');
  }
  const byKind = new Map<string, RunFailure[]>();
  for (const f of report.failures) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f]);
  if (report.traceFile)
    lines.push(
      `  recording (traces, changes, faults, stored messages, logs): ${report.traceFile} — read one connection with: node --import tsx test/chaos/inspect.ts ${report.traceFile} <connection>`,
    );
  lines.push(`  FAILED: ${report.failures.length} failures (${[...byKind].map(([k, fs]) => `${k} ${fs.length}`).join(', ')})`);
  for (const [kind, found] of byKind) {
    for (const f of found.slice(0, perKind)) {
      const where = [f.roomId && `room ${f.roomId.slice(0, 8)}`, f.member, f.connection && `conn ${f.connection}`, f.seq !== undefined && `seq ${f.seq}`]
        .filter(Boolean)
        .join(' ');
      lines.push(`    ${kind}${where ? ` [${where}]` : ''}: ${f.detail}`);
    }
    if (found.length > perKind) lines.push(`    … ${found.length - perKind} more ${kind}`);
  }
  return lines.join('\n');
}
