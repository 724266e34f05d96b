// The embedding queue consumer (README: Embedding worker) as a reliable queue: a blocking pop moves each
// job into this consumer's own processing list, and a job leaves that list only together
// with its outcome (done, delayed for a retry, failed). Jobs run with bounded concurrency;
// stop() takes no new job and waits for the ones in flight.
import type { Logger } from '../../shared/logger';
import type { RedisClient } from '../../shared/redis';
import { backoffDelayMs } from '../outbox/backoff';
import { startPeriodic } from '../outbox/maintenance/periodic';
import { createWakeSignal } from '../outbox/wake';
import { beat, startRegistry, unregister } from './consumer-registry';
import { failedEntry } from './failed-entry';
import { parseJob, postKey, serializeJob, type EmbeddingJob } from './job';
import { isPermanent } from './job-error';
import type { QueueKeys } from './keys';
import { createRedisQueue } from './redis-queue';

export type JobOutcome = 'done' | 'retry' | 'failed';

export interface ConsumerOptions {
  /** For everything but the blocking pop. */
  redis: RedisClient;
  /** Only for the blocking pop, which holds its connection while it waits. */
  blocking: RedisClient;
  keys: QueueKeys;
  consumerId: string;
  concurrency: number;
  /** Retries after the first attempt; then the job goes to the failed list. */
  maxRetries: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  /** How long one blocking pop waits; also how long stop() may wait for it. */
  blockTimeoutMs: number;
  /** How often due retries move from the delayed set back to the queue. */
  retryPollMs: number;
  heartbeatTtlMs: number;
  /** Does the work; throw to fail (a JobError with retryable=false skips the retries). Returned fields are logged. */
  process: (job: EmbeddingJob) => Promise<Record<string, unknown> | void>;
  logger: Logger;
  onSettled?: (outcome: JobOutcome, job: { malformed: boolean; retryCount: number }) => void;
}

export interface Consumer {
  /** Jobs being processed now. */
  inFlight(): number;
  /** Takes no new job, finishes the ones in flight, then resolves. */
  stop(): Promise<void>;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function startConsumer(options: ConsumerOptions): Promise<Consumer> {
  const { logger, consumerId } = options;
  const queue = createRedisQueue(options.redis, options.keys, consumerId);
  const signal = createWakeSignal();
  const inFlight = new Map<Promise<void>, string>();
  let stopping = false;
  // A Redis call failed mid-way: the processing list may hold jobs no one is working on.
  let needsReconcile = false;

  // Heartbeat first, so no other consumer rescues our list while we recover it ourselves.
  // Redis may still be starting (compose, Kubernetes): wait for it rather than exit.
  let recovered: number;
  for (let attempt = 1; ; attempt++) {
    try {
      await beat(options.redis, options.keys, consumerId, options.heartbeatTtlMs);
      recovered = await queue.recover(consumerId);
      break;
    } catch (err) {
      logger.warn({ err, attempt }, 'Redis not ready for the embedding consumer; retrying');
      await signal.sleep(backoffDelayMs(attempt, 500, 10_000));
    }
  }
  if (recovered > 0) logger.warn({ jobs: recovered }, "requeued jobs left in this consumer's processing list by an earlier run");
  const stopRegistry = startRegistry(options.redis, options.keys, queue, consumerId, options.heartbeatTtlMs, logger);
  const stopPromoter = startPeriodic('embedding-retries', options.retryPollMs, () => queue.promoteDue(Date.now(), 1000), logger);

  const settle = async (what: string, op: () => Promise<void>) => {
    try {
      await op();
    } catch (err) {
      needsReconcile = true;
      logger.error({ err, what }, 'could not record a job outcome in Redis; the job will run again');
    }
  };

  const handle = async (raw: string): Promise<void> => {
    const parsed = parseJob(raw);
    if ('invalid' in parsed) {
      const error = `malformed job: ${parsed.invalid}`;
      logger.warn({ error }, 'embedding job rejected');
      await settle('fail', () => queue.fail(raw, failedEntry(parsed.value, error, consumerId)));
      options.onSettled?.('failed', { malformed: true, retryCount: 0 });
      return;
    }
    const { job } = parsed;
    const log = { post_id: postKey(job), retryCount: job.retryCount };
    const started = performance.now();
    try {
      const details = await options.process(job);
      await settle('complete', () => queue.complete(raw));
      logger.info({ ...log, ...details, ms: Math.round(performance.now() - started) }, 'embedding job done');
      options.onSettled?.('done', { malformed: false, retryCount: job.retryCount });
    } catch (err) {
      const error = message(err);
      if (isPermanent(err) || job.retryCount >= options.maxRetries) {
        logger.warn({ ...log, err, permanent: isPermanent(err) }, 'embedding job failed for good');
        await settle('fail', () => queue.fail(raw, failedEntry(job, error, consumerId)));
        options.onSettled?.('failed', { malformed: false, retryCount: job.retryCount });
        return;
      }
      const delayMs = backoffDelayMs(job.retryCount + 1, options.backoffBaseMs, options.backoffCapMs);
      logger.warn({ ...log, err, delayMs }, 'embedding job failed; will retry');
      await settle('retry', () => queue.retryLater(raw, serializeJob({ ...job, retryCount: job.retryCount + 1 }), Date.now() + delayMs));
      options.onSettled?.('retry', { malformed: false, retryCount: job.retryCount });
    }
  };

  /** Puts back on the queue whatever sits in our processing list without a job in flight for it. */
  const reconcile = async () => {
    const held = new Map<string, number>();
    for (const raw of inFlight.values()) held.set(raw, (held.get(raw) ?? 0) + 1);
    let released = 0;
    for (const raw of await queue.inProcessing()) {
      const n = held.get(raw) ?? 0;
      if (n > 0) held.set(raw, n - 1);
      else if (await queue.release(raw)) released++;
    }
    if (released > 0) logger.warn({ jobs: released }, 'requeued jobs stranded in the processing list');
  };

  const run = async () => {
    while (!stopping) {
      if (inFlight.size >= options.concurrency) {
        await Promise.race(inFlight.keys());
        continue;
      }
      try {
        if (needsReconcile) {
          needsReconcile = false;
          await reconcile();
        }
        const raw = await queue.take(options.blocking, options.blockTimeoutMs);
        if (raw === null) continue;
        const task: Promise<void> = handle(raw).finally(() => inFlight.delete(task));
        inFlight.set(task, raw);
      } catch (err) {
        // Redis gone or restarting: the pop may have moved a job we never saw.
        needsReconcile = true;
        logger.warn({ err }, 'taking an embedding job failed; will retry');
        await signal.sleep(1000);
      }
    }
  };

  const running = run();
  logger.info({ consumerId, queue: options.keys.queue, concurrency: options.concurrency, recovered }, 'embedding consumer started');
  return {
    inFlight: () => inFlight.size,
    async stop() {
      stopping = true;
      signal.wake();
      await running;
      await Promise.all(inFlight.keys());
      await stopPromoter();
      await stopRegistry();
      if (needsReconcile) await reconcile().catch((err: unknown) => logger.warn({ err }, 'reconcile at stop failed'));
      // Leave the registry only with an empty processing list; otherwise a rescuer (or our next start) requeues what is left.
      const left = await queue.inProcessing().catch(() => ['?']);
      if (left.length === 0) await unregister(options.redis, options.keys, consumerId).catch(() => {});
    },
  };
}
