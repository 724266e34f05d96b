// Connections: how many sockets one gateway holds and what each costs. N sockets from
// several load-client processes, each on a source address of its own (127.0.0.2, .3, …:
// one address gives ~28,000 ephemeral ports), authenticate and join one room of all N;
// then they are held — idle (the gateway's pings only) and with a trickle of messages to
// everyone. Reported: connect rate, gateway RSS per connection and where it goes (V8 heap
// vs the rest: uWS, buffers), gateway CPU per idle connection per second, and end-to-end
// p99 of a message delivered to all N.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../shared/db/client';
import { LoadPool } from '../load/pool';
import { CpuMeter, rssBytes } from '../lib/proc';
import { summarizeMicros, type LatencySummary } from '../lib/stats';
import { seedRoom } from '../system/database';
import { startOurs } from '../system/processes';

export interface ConnectionsOptions {
  /** Sockets asked for; fewer when this process may not open that many files (see `limitedBy`). */
  sockets: number;
  /** Load-client processes (each connects from its own 127.0.0.x). */
  clients: number;
  sql: Sql;
  databaseUrl: string;
  redisUrl: string;
  oursEnv: Record<string, string>;
  idleMs: number;
  trickleMs: number;
  /** Messages per second to the room of all, during the trickle. */
  trickleRate: number;
  log?: (line: string) => void;
}

export interface ConnectionsResult {
  socketsAsked: number;
  sockets: number;
  /** Why fewer sockets than asked: the open-files limit the gateway inherits (null: none). */
  limitedBy: string | null;
  connectSeconds: number;
  connectsPerSec: number;
  /** Gateway, per authenticated, joined, idle connection. */
  rssPerConnectionBytes: number;
  heapPerConnectionBytes: number;
  /** RSS growth outside the V8 heap (uWS sockets and buffers, the allocator). */
  nativePerConnectionBytes: number;
  /** Gateway CPU while idle, per connection per second. */
  idleCpuUsPerConnectionSec: number;
  trickle: { sent: number; deliveries: number; latencyMs: LatencySummary; missing: number };
  gatewayRssBytes: number;
}

/** File descriptors a gateway needs besides its sockets (database pool, Redis, the listen socket, Node's own). */
const FD_HEADROOM = 500;
/** Most sockets per load-client process (its own open-files limit, and one event loop). */
const PER_CLIENT = 15_000;

function openFilesLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
}

async function gatewayMemory(port: number): Promise<{ heapUsed: number; rss: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  return { heapUsed: value('nodejs_heap_size_used_bytes'), rss: value('process_resident_memory_bytes') };
}

export async function runConnections(options: ConnectionsOptions): Promise<ConnectionsResult> {
  const log = options.log ?? (() => {});
  const limit = openFilesLimit();
  const sockets = Math.min(options.sockets, limit - FD_HEADROOM);
  const limitedBy = sockets < options.sockets ? `open files limited to ${limit} per process (ulimit -n; raise the hard limit for more)` : null;
  if (limitedBy) log(`  connections: ${options.sockets} asked, ${sockets} possible: ${limitedBy}`);
  const clients = Math.max(options.clients, Math.ceil(sockets / Math.min(PER_CLIENT, limit - FD_HEADROOM)));
  const room = await seedRoom(options.sql, sockets, `bench connections ${sockets}`);
  // Server pings within the idle window: what holding a connection costs includes them.
  const ours = await startOurs(options.databaseUrl, options.redisUrl, { ...options.oursEnv, WS_IDLE_TIMEOUT_S: '16' });
  const pool = LoadPool.start(clients);
  try {
    await sleep(500);
    const before = await gatewayMemory(ours.port);
    const started = Date.now();
    const specs = room.userIds.map((userId) => ({ userId, roomId: room.roomId }));
    await pool.connect(
      'ours',
      ours.port,
      options.redisUrl,
      'global',
      specs,
      'frames',
      Array.from({ length: clients }, (_, i) => `127.0.0.${i + 2}`),
    );
    const connectSeconds = (Date.now() - started) / 1000;
    log(
      `  ${sockets} sockets authenticated and joined in ${connectSeconds.toFixed(1)} s (${(sockets / connectSeconds).toFixed(0)}/s) from ${clients} processes`,
    );
    await sleep(3000); // joins settle, garbage collected
    const after = await gatewayMemory(ours.port);
    const rssGrowth = rssBytes(ours.gateway.pid) - before.rss;
    const heapGrowth = after.heapUsed - before.heapUsed;

    const meter = new CpuMeter([ours.gateway.pid]);
    meter.start();
    await sleep(options.idleMs);
    const [idle] = meter.stop();
    const idleCpuUsPerConnectionSec = idle!.cpuMicros / sockets / (options.idleMs / 1000);
    log(
      `  idle ${options.idleMs / 1000} s: gateway ${(idle!.coreFraction * 100).toFixed(1)}% of a core, ${idleCpuUsPerConnectionSec.toFixed(3)} µs per connection per second`,
    );

    const sendStartMs = Date.now() + 300;
    const measureStartMs = sendStartMs + 1000;
    const measureEndMs = measureStartMs + options.trickleMs;
    const merged = await pool.runPhase({ id: 'trickle', sendStartMs, measureStartMs, measureEndMs, drainMs: 3000 }, [
      { writer: 1, roomId: room.roomId, socket: 0, via: 'full', rate: options.trickleRate, window: 1, seqAfter: 0 },
    ]);
    const latencyMs = summarizeMicros(merged.histogram);
    const trickle = {
      sent: merged.sentInWindow,
      deliveries: merged.histogram.totalCount,
      latencyMs,
      missing: Math.max(0, merged.sentInWindow * sockets - merged.histogram.totalCount),
    };
    log(
      `  trickle: ${trickle.sent} messages to all ${sockets}: ${trickle.deliveries} deliveries, p50 ${latencyMs.p50} ms, p99 ${latencyMs.p99} ms${trickle.missing ? `, missing ${trickle.missing}` : ''}`,
    );
    return {
      socketsAsked: options.sockets,
      sockets,
      limitedBy,
      connectSeconds,
      connectsPerSec: sockets / connectSeconds,
      rssPerConnectionBytes: rssGrowth / sockets,
      heapPerConnectionBytes: heapGrowth / sockets,
      nativePerConnectionBytes: (rssGrowth - heapGrowth) / sockets,
      idleCpuUsPerConnectionSec,
      trickle,
      gatewayRssBytes: rssBytes(ours.gateway.pid),
    };
  } finally {
    await pool.close();
    await ours.stop();
  }
}
