// The workers' Prometheus metrics. Every worker kind (chat, document, embedding) counts
// into the same metric families, told apart by the `worker` label, so one dashboard
// reads them all and several kinds can share a registry (npm start runs them in one process).
import { Counter, Gauge, Histogram, LATENCY_BUCKETS_SECONDS, type Registry } from '../shared/metrics';
import type { RedisClient } from '../shared/redis';
import { withTimeout } from '../shared/timeout';
import type { OutboxLoopOptions } from './outbox/loop';
import type { OutboxBacklog } from './outbox/sql/outbox-backlog';

type Metric = Counter<string> | Gauge<string> | Histogram<string>;

/** The registry's metric of that name, created on first use (a second worker kind in the process reuses it). */
function shared<M extends Metric>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

export interface JobMetrics {
  /** Jobs finished, by worker kind, job type and status (outbox: published, retry, dead). */
  jobs: Counter<'worker' | 'type' | 'status'>;
  /** Failed attempts that will be tried again. */
  retries: Counter<'worker' | 'type'>;
}

export function jobMetrics(registry: Registry): JobMetrics {
  const registers = [registry];
  return {
    jobs: shared(
      registry,
      'arcyou_worker_jobs_total',
      () =>
        new Counter({
          name: 'arcyou_worker_jobs_total',
          help: 'Jobs (outbox rows, queue jobs) settled, by worker kind, job type and status.',
          labelNames: ['worker', 'type', 'status'] as const,
          registers,
        }),
    ),
    retries: shared(
      registry,
      'arcyou_worker_retries_total',
      () =>
        new Counter({
          name: 'arcyou_worker_retries_total',
          help: 'Failed attempts scheduled to be tried again (with backoff), by worker kind and job type.',
          labelNames: ['worker', 'type'] as const,
          registers,
        }),
    ),
  };
}

export interface OutboxWorkerMetrics {
  onSettled: NonNullable<OutboxLoopOptions['onSettled']>;
  onTimed: NonNullable<OutboxLoopOptions['onTimed']>;
  /** The latest backlog measurement (worker/outbox/maintenance/outbox-stats.ts). */
  reportBacklog(backlog: OutboxBacklog): void;
}

/** Metrics of one outbox worker kind (`chat`, `document`). */
export function createOutboxWorkerMetrics(registry: Registry, worker: string): OutboxWorkerMetrics {
  const registers = [registry];
  const { jobs, retries } = jobMetrics(registry);
  const pending = shared(
    registry,
    'arcyou_outbox_pending',
    () =>
      new Gauge({
        name: 'arcyou_outbox_pending',
        help: 'Outbox rows waiting for this worker kind (pending, including those backing off before a retry).',
        labelNames: ['worker'] as const,
        registers,
      }),
  );
  const lag = shared(
    registry,
    'arcyou_outbox_lag_seconds',
    () =>
      new Gauge({
        name: 'arcyou_outbox_lag_seconds',
        help: 'Age of the oldest pending outbox row of this worker kind (0 when none is waiting).',
        labelNames: ['worker'] as const,
        registers,
      }),
  );
  const claimDuration = shared(
    registry,
    'arcyou_worker_claim_duration_seconds',
    () =>
      new Histogram({
        name: 'arcyou_worker_claim_duration_seconds',
        help: 'Time of one claim query (FOR UPDATE SKIP LOCKED), empty claims included.',
        labelNames: ['worker'] as const,
        buckets: LATENCY_BUCKETS_SECONDS,
        registers,
      }),
  );
  const processDuration = shared(
    registry,
    'arcyou_worker_process_duration_seconds',
    () =>
      new Histogram({
        name: 'arcyou_worker_process_duration_seconds',
        help: 'Time to process one claimed batch: the chat worker publishing it to Redis, the document worker calling the sidecar.',
        labelNames: ['worker'] as const,
        buckets: LATENCY_BUCKETS_SECONDS,
        registers,
      }),
  );
  const labels = { worker };
  return {
    onSettled(row, outcome) {
      jobs.inc({ worker, type: row.type, status: outcome });
      if (outcome === 'retry') retries.inc({ worker, type: row.type });
    },
    onTimed(phase, seconds) {
      (phase === 'claim' ? claimDuration : processDuration).observe(labels, seconds);
    },
    reportBacklog(backlog) {
      pending.set(labels, backlog.pending);
      lag.set(labels, backlog.lagSeconds);
    },
  };
}

/** A Redis key whose size is a queue depth: a list (LLEN), or a sorted set (ZCARD) such as delayed retries. */
export type QueueKey = string | { zset: string };

/**
 * Gauge `arcyou_queue_depth{queue}`: the size of Redis job queues (pending jobs, delayed
 * retries, failed jobs, jobs in flight), read in one pipeline per scrape. `queues` maps the
 * label value to the key. When Redis does not answer, the series are left out of that
 * scrape rather than showing a stale number.
 */
export function registerQueueDepth(registry: Registry, redis: RedisClient, queues: Record<string, QueueKey>): Gauge<'queue'> {
  const entries = Object.entries(queues);
  return new Gauge({
    name: 'arcyou_queue_depth',
    help: 'Jobs in a Redis job queue (pending, delayed for retry, failed, in flight), by queue.',
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const pipeline = redis.pipeline();
        for (const [, key] of entries) {
          if (typeof key === 'string') pipeline.llen(key);
          else pipeline.zcard(key.zset);
        }
        const results = await withTimeout(pipeline.exec(), 1000, 'redis');
        results?.forEach(([err, size], i) => {
          if (!err) this.set({ queue: entries[i]![0] }, Number(size));
        });
      } catch {
        // Redis unreachable: no sample this time (readiness reports the outage).
      }
    },
  });
}
