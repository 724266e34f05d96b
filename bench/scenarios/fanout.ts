// Fan-out scenarios: for one system (ours or Socket.IO) and one fan-out F, start the
// server processes fresh, connect F subscribers to each of several rooms, then run
// load phases on those sockets:
//  - path "full": one subscriber per room sends over its socket through the whole path
//    (ours: gateway → PostgreSQL → worker → Redis → gateway; Socket.IO: server →
//    PostgreSQL → adapter → clients);
//  - path "fanout": the bench publishes serialised events straight into Redis, so only
//    the server's receive-and-broadcast work is measured;
//  - load "fixed": a timetable at an offered rate (latency from the intended send time);
//    load "saturation": each writer keeps a window of messages in flight, paced by its
//    own socket receiving them (closed loop through the whole path).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../shared/db/client';
import { LoadPool, type PoolWriter } from '../load/pool';
import type { SocketSpec } from '../load/messages';
import type { OurClient, System } from '../load/wire';
import { CpuMeter, cpuMicros, machineLoad, rssBytes } from '../lib/proc';
import { summarizeMicros, type LatencySummary } from '../lib/stats';
import { seedRoom } from '../system/database';
import { startOurs, startSocketIo } from '../system/processes';

export type Path = 'full' | 'fanout';
export type Load = 'fixed' | 'saturation';

export interface PhaseKind {
  path: Path;
  load: Load;
}

export interface Timing {
  warmupMs: number;
  measureMs: number;
  drainMs: number;
}

export interface FanoutGroup {
  system: System;
  fanout: number;
  rooms: number;
  phases: PhaseKind[];
  timing: Timing;
  /** Load-generator processes. */
  clients: number;
  /** How they talk to our gateway (default raw frames). */
  ourClient?: OurClient;
  /** Sent messages/s over all rooms in "fixed" phases; default offeredRateFor(fanout). */
  offeredRate?: number;
  sql: Sql;
  databaseUrl: string;
  redisUrl: string;
  /** Env for our gateway and worker (RL_BUCKET_CAPACITY, WS_SEND_HIGH_WATER, BATCH_SIZE, PUBSUB_MODE, ...). */
  oursEnv: Record<string, string>;
  log?: (line: string) => void;
}

export interface PhaseResult {
  system: System;
  path: Path;
  load: Load;
  fanout: number;
  rooms: number;
  sockets: number;
  /** Offered send rate (messages/s over all rooms), null at saturation. */
  offeredRate: number | null;
  sentPerSec: number;
  deliveredPerSec: number;
  latencyMs: LatencySummary;
  /** Deliveries expected for messages meant to be sent inside the window, minus those recorded. */
  missing: number;
  /** CPU µs of the server process that talks to the clients (our gateway; the Socket.IO server) per delivered message. */
  serverCpuUsPerDelivered: number;
  /** Same, with every process of the system (ours: gateway + worker). */
  systemCpuUsPerDelivered: number;
  /** Fraction of one core each server process used in the window. */
  serverCores: Record<string, number>;
  /** Busiest load-generator process, fraction of one core. */
  clientCoreMax: number;
  /** Busiest load-generator main thread, on a CPU or waiting for one, fraction of the window. */
  clientBusyMax: number;
  /** Some load-generator process never idled (busy ≥ 90%): it may have been the bottleneck. */
  clientSaturated: boolean;
  /** The server's main thread, same measure: ≥ 90% = the server was the bottleneck (or starved by its neighbours). */
  serverBusy: number;
  rssPerConnectionBytes: number;
  sendErrors: number;
  closedSockets: number;
  load1: number;
  /**
   * Full path: CPU of the PostgreSQL backends serving the system's processes (this
   * database, application_name arcyou-*), per message sent. Excludes PostgreSQL's
   * shared background processes (WAL writer, checkpointer). null on the fan-out-only path.
   */
  dbCpuUsPerSent: number | null;
  /** Ours, full path: outbox rows per worker round (claim → publish → mark) in the phase; null otherwise. */
  workerAvgBatch: number | null;
}

/** Sent messages/s at a fixed offered rate: 1,000/s up to fan-out 20, then 20,000 deliveries/s. */
export function offeredRateFor(fanout: number): number {
  return Math.min(1000, 20_000 / fanout);
}

/**
 * Messages in flight per writer (room) at saturation: enough to keep the server busy,
 * few enough that latency stays readable — about 16,000 deliveries in flight over all
 * rooms, between 2 and 32 messages per room.
 */
export function windowFor(rooms: number, fanout: number): number {
  return Math.max(2, Math.min(32, Math.ceil(16_000 / (fanout * rooms))));
}

const CLIENT_SATURATED = 0.9;

async function waitOutboxDrained(sql: Sql, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE status IN ('pending', 'in_progress')`;
    if ((row?.n ?? 0) === 0) return;
    await sleep(200);
  }
}

/** Rows per worker round since `sinceMs`: a round marks its rows published in one statement, so they share published_at. */
async function averageBatch(sql: Sql, sinceMs: number): Promise<number | null> {
  const [row] = await sql<{ rows: number; rounds: number }[]>`
    SELECT count(*)::int AS rows, count(DISTINCT published_at)::int AS rounds
    FROM outbox WHERE status = 'published' AND published_at >= ${new Date(sinceMs)}`;
  return row && row.rounds > 0 ? row.rows / row.rounds : null;
}

/** Pids of the PostgreSQL backends of the system under test (not the bench's own connections). */
async function backendPids(sql: Sql): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND application_name LIKE 'arcyou-%' AND pid <> pg_backend_pid()`;
  return rows.map((r) => r.pid);
}

/** CPU µs the backends used between two samples; backends that appeared in between count from zero. */
function backendCpu(before: Map<number, number>, after: readonly number[]): number {
  let total = 0;
  for (const pid of after) {
    try {
      total += cpuMicros(pid) - (before.get(pid) ?? 0);
    } catch {
      // backend gone
    }
  }
  return total;
}

async function roomLastSeqs(sql: Sql, roomIds: string[]): Promise<Map<string, number>> {
  const rows = await sql<{ id: string; last_seq: number }[]>`SELECT id, last_seq FROM arcyou_chat_rooms WHERE id = ANY(${roomIds}::uuid[])`;
  return new Map(rows.map((row) => [row.id, row.last_seq]));
}

/**
 * Fan-out-only phases publish numbered messages straight into Redis, as a worker would;
 * the rooms' last_seq then moves past them, so that the next full-path message takes the
 * seq after them (as it would had they been stored).
 */
async function advanceLastSeqs(sql: Sql, publishedByRoom: Record<string, number>): Promise<void> {
  for (const [roomId, count] of Object.entries(publishedByRoom)) {
    if (count > 0) await sql`UPDATE arcyou_chat_rooms SET last_seq = last_seq + ${count} WHERE id = ${roomId}`;
  }
}

async function retirePendingRows(sql: Sql): Promise<void> {
  await sql`UPDATE outbox SET status = 'published', published_at = now() WHERE status IN ('pending', 'in_progress')`;
}

export async function runFanoutGroup(group: FanoutGroup): Promise<PhaseResult[]> {
  const log = group.log ?? (() => {});
  const { system, fanout, rooms } = group;
  const seeded = await Promise.all(Array.from({ length: rooms }, (_, r) => seedRoom(group.sql, fanout, `bench ${system} F${fanout} #${r}`)));
  const sockets: SocketSpec[] = seeded.flatMap((room) => room.userIds.map((userId) => ({ userId, roomId: room.roomId })));
  // The first member of each room writes (full path) or paces the publisher (fan-out-only).
  const writerSocket = seeded.map((_, r) => r * fanout);

  const servers =
    system === 'ours'
      ? await startOurs(group.databaseUrl, group.redisUrl, group.oursEnv).then((s) => ({
          port: s.port,
          pids: { gateway: s.gateway.pid, worker: s.worker.pid },
          main: s.gateway.pid,
          stop: () => s.stop(),
        }))
      : await startSocketIo(group.databaseUrl, group.redisUrl).then((s) => ({
          port: s.port,
          pids: { socketio: s.server.pid },
          main: s.server.pid,
          stop: () => s.stop(),
        }));
  const pool = LoadPool.start(group.clients);
  const results: PhaseResult[] = [];
  try {
    await sleep(500);
    const rssBefore = rssBytes(servers.main);
    const connectStarted = Date.now();
    await pool.connect(system, servers.port, group.redisUrl, (group.oursEnv.PUBSUB_MODE as 'global' | 'perconv') ?? 'global', sockets, group.ourClient);
    await sleep(1000); // let the joins settle
    const rssPerConnectionBytes = (rssBytes(servers.main) - rssBefore) / sockets.length;
    log(
      `  ${system} F=${fanout}: ${sockets.length} sockets connected in ${Date.now() - connectStarted} ms, ${(rssPerConnectionBytes / 1024).toFixed(1)} KiB RSS each`,
    );

    let writerSeq = 1;
    for (const kind of group.phases) {
      const offeredRate = kind.load === 'fixed' ? (group.offeredRate ?? offeredRateFor(fanout)) : null;
      const lastSeqs = await roomLastSeqs(
        group.sql,
        seeded.map((room) => room.roomId),
      );
      const writers: PoolWriter[] = seeded.map((room, r) => ({
        writer: writerSeq++,
        roomId: room.roomId,
        socket: writerSocket[r]!,
        via: kind.path === 'full' ? 'full' : 'publish',
        rate: offeredRate === null ? null : offeredRate / rooms,
        window: windowFor(rooms, fanout),
        seqAfter: lastSeqs.get(room.roomId) ?? 0,
      }));
      const sendStartMs = Date.now() + 300;
      const measureStartMs = sendStartMs + group.timing.warmupMs;
      const measureEndMs = measureStartMs + group.timing.measureMs;
      const serverMeter = new CpuMeter(Object.values(servers.pids));
      const clientMeter = new CpuMeter(pool.pids);
      const meters = sleep(measureStartMs - Date.now()).then(async () => {
        serverMeter.start();
        clientMeter.start();
        const dbBefore = new Map<number, number>();
        for (const pid of await backendPids(group.sql)) {
          try {
            dbBefore.set(pid, cpuMicros(pid));
          } catch {
            // backend gone
          }
        }
        await sleep(measureEndMs - Date.now());
        const server = serverMeter.stop();
        const client = clientMeter.stop();
        return { server, client, db: backendCpu(dbBefore, await backendPids(group.sql)) };
      });
      const merged = await pool.runPhase(
        { id: `${kind.path}-${kind.load}`, sendStartMs, measureStartMs, measureEndMs, drainMs: group.timing.drainMs },
        writers,
      );
      await advanceLastSeqs(group.sql, merged.publishedByRoom);
      const cpu = await meters;
      const measureSec = group.timing.measureMs / 1000;
      const delivered = merged.deliveredInWindow;
      const mainCpu = cpu.server.find((s) => s.pid === servers.main)?.cpuMicros ?? NaN;
      const totalCpu = cpu.server.reduce((n, s) => n + s.cpuMicros, 0);
      const clientCoreMax = Math.max(...cpu.client.map((c) => c.coreFraction));
      const clientBusyMax = Math.max(...cpu.client.map((c) => c.busyFraction));
      const result: PhaseResult = {
        system,
        path: kind.path,
        load: kind.load,
        fanout,
        rooms,
        sockets: sockets.length,
        offeredRate,
        sentPerSec: merged.sentInWindow / measureSec,
        deliveredPerSec: delivered / measureSec,
        latencyMs: summarizeMicros(merged.histogram),
        missing: Math.max(0, merged.sentInWindow * fanout - merged.histogram.totalCount),
        serverCpuUsPerDelivered: delivered > 0 ? mainCpu / delivered : NaN,
        systemCpuUsPerDelivered: delivered > 0 ? totalCpu / delivered : NaN,
        serverCores: Object.fromEntries(Object.entries(servers.pids).map(([name, pid]) => [name, cpu.server.find((s) => s.pid === pid)?.coreFraction ?? NaN])),
        clientCoreMax,
        clientBusyMax,
        clientSaturated: clientBusyMax >= CLIENT_SATURATED,
        serverBusy: cpu.server.find((s) => s.pid === servers.main)?.busyFraction ?? NaN,
        rssPerConnectionBytes,
        sendErrors: merged.sendErrors,
        closedSockets: merged.closedSockets,
        load1: machineLoad().load1,
        workerAvgBatch: null,
        dbCpuUsPerSent: kind.path === 'full' && merged.sentInWindow > 0 ? cpu.db / merged.sentInWindow : null,
      };
      results.push(result);
      log(
        `  ${system} F=${fanout} ${kind.path}/${kind.load}: sent ${result.sentPerSec.toFixed(0)}/s, delivered ${result.deliveredPerSec.toFixed(0)}/s, ` +
          `p50 ${result.latencyMs.p50} ms p99 ${result.latencyMs.p99} ms, server ${result.serverCpuUsPerDelivered.toFixed(2)} µs/msg ` +
          `(system ${result.systemCpuUsPerDelivered.toFixed(2)}), server busy ${(result.serverBusy * 100).toFixed(0)}%, client max cpu ${(clientCoreMax * 100).toFixed(0)}% busy ${(clientBusyMax * 100).toFixed(0)}%${result.clientSaturated ? ' SATURATED' : ''}` +
          `${result.dbCpuUsPerSent !== null ? `, db ${result.dbCpuUsPerSent.toFixed(0)} µs/sent` : ''}${result.missing ? `, missing ${result.missing}` : ''}${result.closedSockets ? `, closed ${result.closedSockets}` : ''}${result.sendErrors ? `, send errors ${result.sendErrors}` : ''}`,
      );
      if (kind.path === 'full' && system === 'ours') {
        await waitOutboxDrained(group.sql, 15_000);
        result.workerAvgBatch = await averageBatch(group.sql, measureStartMs);
        log(
          result.workerAvgBatch === null
            ? '    worker: published nothing (the gateway published every message itself)'
            : `    worker: ${result.workerAvgBatch.toFixed(1)} rows per round`,
        );
      }
      // The peer has no worker: its outbox rows would sit pending and load our worker later.
      if (kind.path === 'full' && system === 'socketio') await retirePendingRows(group.sql);
      await sleep(300);
    }
  } finally {
    await pool.close();
    await servers.stop();
  }
  return results;
}
