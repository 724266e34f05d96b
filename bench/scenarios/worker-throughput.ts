// Worker throughput: outbox rows per second taken from a backlog through the whole
// worker round (claim FOR UPDATE SKIP LOCKED → publish to Redis → mark published), for
// several batch sizes and numbers of worker processes. Each configuration starts its
// workers idle, then commits a backlog of `backlog` rows in one INSERT ... SELECT FROM
// generate_series; NOTIFY wakes them. Rate = rows published / (last published_at − commit).
import type { Sql } from '../../shared/db/client';
import { CpuMeter, machineLoad } from '../lib/proc';
import { startService, type Service } from '../system/processes';

export interface WorkerConfig {
  batchSize: number;
  workers: number;
}

export interface WorkerResult extends WorkerConfig {
  backlog: number;
  published: number;
  seconds: number;
  rowsPerSec: number;
  /** Worker processes' CPU per row (PostgreSQL's and Redis's own CPU not included). */
  workerCpuUsPerRow: number;
  drained: boolean;
  load1: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function insertBacklog(sql: Sql, rows: number): Promise<void> {
  await sql`
    INSERT INTO outbox (type, room_id, payload)
    SELECT 'message.created', r.id,
           jsonb_build_object('id', g, 'user_id', '00000000-0000-4000-8000-000000000001', 'content', jsonb_build_object('text', 'backlog message ' || g), 'created_at', now())
    FROM generate_series(1, ${rows}) AS g
    CROSS JOIN LATERAL (SELECT ('00000000-0000-4000-8000-' || lpad((g % 64)::text, 12, '0'))::uuid AS id) AS r`;
}

export async function runWorkerConfig(sql: Sql, databaseUrl: string, redisUrl: string, config: WorkerConfig, options: { backlog: number; capMs: number; env?: Record<string, string> }): Promise<WorkerResult> {
  await sql`TRUNCATE outbox RESTART IDENTITY`;
  await sql`VACUUM ANALYZE outbox`;
  const workers: Service[] = await Promise.all(
    Array.from({ length: config.workers }, (_, i) =>
      startService({
        name: `bench-worker-${i}`,
        command: process.execPath,
        args: ['--import', 'tsx', 'worker/main.ts'],
        env: { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, BATCH_SIZE: String(config.batchSize), WORKER_ID: `bench-worker-${i}`, METRICS_PORT: '0', LOG_LEVEL: 'debug', ...options.env },
        readyLine: /chat worker started/,
      }),
    ),
  );
  try {
    await sleep(300);
    const meter = new CpuMeter(workers.map((w) => w.pid));
    await insertBacklog(sql, options.backlog);
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
      SELECT count(*)::int AS published, max(published_at) AS last FROM outbox WHERE status = 'published'`;
    const published = stats?.published ?? 0;
    const endMs = drained && stats?.last ? stats.last.getTime() : stoppedAt;
    const seconds = Math.max(0.001, (endMs - committedAt) / 1000);
    return { ...config, backlog: options.backlog, published, seconds, rowsPerSec: published / seconds, workerCpuUsPerRow: published > 0 ? cpu / published : NaN, drained, load1: machineLoad().load1 };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}
