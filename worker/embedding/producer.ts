// What a producer calls to queue an embedding job (an LPUSH, with the job
// validated and versioned here rather than by each caller).
import type { RedisClient } from '../../shared/redis';
import { newJob, serializeJob, type NewEmbeddingJob } from './job';

/** Queues one job at the back of the queue; returns the queue's length after it. */
export function enqueueEmbeddingJob(redis: RedisClient, queueKey: string, job: NewEmbeddingJob): Promise<number> {
  return redis.lpush(queueKey, serializeJob(newJob(job)));
}
