// Worker throughput: outbox rows per second taken from a backlog through the whole
// worker round (claim FOR UPDATE SKIP LOCKED → publish to Redis → mark published), for
// several batch sizes and numbers of worker processes. Each configuration starts its
// workers idle, then commits a backlog of `backlog` rows in one INSERT ... SELECT FROM
// generate_series; NOTIFY wakes them. Rate = rows published / (last published_at − commit).
//
// The table first holds `history` published rows, analysed, as a production outbox does
// (published rows stay for OUTBOX_RETENTION): the planner then knows pending rows are
// rare and claims through the partial pending index. With history 0 ("cold": the last
// ANALYZE saw a table of pending rows) it walks the primary key instead and re-skips
// every row already published, each round — see the report for what that costs.
//
// Rows are spread over `rooms` rooms. A room's rows go to one worker at a time (per-room
// order), so extra workers only help when a batch does not already span every room.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../shared/db/client';
import { CpuMeter, machineLoad } from '../lib/proc';
import { startService, TSX, type Service } from '../system/processes';

export interface WorkerConfig {
  batchSize: number;
  workers: number;
}

export interface WorkerResult extends WorkerConfig {
  backlog: number;
  /** Published rows already in the table (analysed) when the backlog arrived. */
  history: number;
  /** Rooms the backlog's rows are spread over (round-robin by id). */
  rooms: number;
  published: number;
  seconds: number;
  rowsPerSec: number;
  /** Worker processes' CPU per row (PostgreSQL's and Redis's own CPU not included). */
  workerCpuUsPerRow: number;
  drained: boolean;
  load1: number;
}

async function insertBacklog(sql: Sql, rows: number, rooms: number, status: 'pending' | 'published' = 'pending'): Promise<void> {
  await sql`
    INSERT INTO outbox (type, room_id, payload, status, published_at)
    SELECT 'message.created', r.id,
           jsonb_build_object('id', g, 'user_id', '00000000-0000-4000-8000-000000000001', 'content', jsonb_build_object('text', 'backlog message ' || g), 'created_at', now()),
           ${status}::outbox_status, CASE WHEN ${status} = 'published' THEN now() END
    FROM generate_series(1, ${rows}) AS g
    CROSS JOIN LATERAL (SELECT ('00000000-0000-4000-8000-' || lpad((g % ${rooms})::text, 12, '0'))::uuid AS id) AS r`;
}

/** Resets the outbox to `history` published rows, vacuumed and analysed. */
async function prepareTable(sql: Sql, history: number, rooms: number): Promise<void> {
  const [kept] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE status = 'published' AND id <= ${history}`;
  if (kept?.n === history && history > 0) {
    await sql`DELETE FROM outbox WHERE id > ${history}`;
  } else {
    await sql`TRUNCATE outbox RESTART IDENTITY`;
    if (history > 0) await insertBacklog(sql, history, rooms, 'published');
  }
  await sql`VACUUM ANALYZE outbox`;
}

export async function runWorkerConfig(
  sql: Sql,
  databaseUrl: string,
  redisUrl: string,
  config: WorkerConfig,
  options: { backlog: number; history: number; rooms: number; capMs: number; env?: Record<string, string> },
): Promise<WorkerResult> {
  await prepareTable(sql, options.history, options.rooms);
  const workers: Service[] = await Promise.all(
    Array.from({ length: config.workers }, (_, i) =>
      startService({
        name: `bench-worker-${i}`,
        command: process.execPath,
        args: [...TSX, 'worker/chat/main.ts'],
        env: {
          DATABASE_URL: databaseUrl,
          REDIS_URL: redisUrl,
          BATCH_SIZE: String(config.batchSize),
          WORKER_ID: `bench-worker-${i}`,
          METRICS_PORT: '0',
          LOG_LEVEL: 'info',
          ...options.env,
        },
        readyLine: /chat worker started/,
      }),
    ),
  );
  try {
    await sleep(300);
    const meter = new CpuMeter(workers.map((w) => w.pid));
    await insertBacklog(sql, options.backlog, options.rooms);
    const committedAt = Date.now();
    meter.start();
    let drained = false;
    while (Date.now() - committedAt < options.capMs) {
      await sleep(250);
      const [row] = await sql<{ left: number }[]>`SELECT count(*)::int AS left FROM outbox WHERE status IN ('pending', 'in_progress')`;
      if (row?.left === 0) {
        drained = true;
        break;
      }
    }
    const stoppedAt = Date.now();
    const cpu = meter.stop().reduce((n, p) => n + p.cpuMicros, 0);
    const [stats] = await sql<{ published: number; last: Date | null }[]>`
      SELECT count(*)::int AS published, max(published_at) AS last FROM outbox WHERE status = 'published' AND id > ${options.history}`;
    const published = stats?.published ?? 0;
    const endMs = drained && stats?.last ? stats.last.getTime() : stoppedAt;
    const seconds = Math.max(0.001, (endMs - committedAt) / 1000);
    return {
      ...config,
      backlog: options.backlog,
      history: options.history,
      rooms: options.rooms,
      published,
      seconds,
      rowsPerSec: published / seconds,
      workerCpuUsPerRow: published > 0 ? cpu / published : NaN,
      drained,
      load1: machineLoad().load1,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}
