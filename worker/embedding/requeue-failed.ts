// `npm run embedding -- requeue`: failed jobs back to the queue, each with a fresh set of
// retries. Entries that do not hold a valid job stay on the failed list.
import type { RedisClient } from '../../shared/redis';
import { jobOfFailedEntry } from './failed-entry';
import { parseJob, serializeJob } from './job';
import type { QueueKeys } from './keys';
import { requeueFailedEntry } from './redis-queue';

export interface RequeueResult {
  requeued: number;
  /** Why each entry that stayed was not requeued. */
  skipped: string[];
}

export async function requeueFailed(redis: RedisClient, keys: QueueKeys, limit: number | null): Promise<RequeueResult> {
  // The oldest failures sit at the right end; take them first, so they are taken first again.
  const entries = (await redis.lrange(keys.failed, limit === null ? 0 : -limit, -1)).reverse();
  const result: RequeueResult = { requeued: 0, skipped: [] };
  for (const entry of entries) {
    // A malformed job was kept as the text it came as, or as the object it parsed to.
    const job = jobOfFailedEntry(entry);
    const parsed = parseJob(typeof job === 'string' ? job : JSON.stringify(job));
    if ('invalid' in parsed) {
      result.skipped.push(parsed.invalid);
      continue;
    }
    if (await requeueFailedEntry(redis, keys, entry, serializeJob({ ...parsed.job, retryCount: 0 }))) result.requeued++;
  }
  return result;
}
