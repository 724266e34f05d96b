// `npm run embedding -- requeue`: failed jobs back to the queue, each with a fresh set of
// retries. Entries that do not hold a valid job stay on the failed list.
import * as v from 'valibot';
import { describeIssues } from '../../shared/describe-issues';
import type { Redis } from '../../shared/redis';
import { jobOfFailedEntry } from './failed-entry';
import { EmbeddingJobSchema, serializeJob } from './job';
import type { QueueKeys } from './keys';
import { requeueFailedEntry } from './redis-queue';

export interface RequeueResult {
  requeued: number;
  /** Why each entry that stayed was not requeued. */
  skipped: string[];
}

export async function requeueFailed(redis: Redis, keys: QueueKeys, limit: number | null): Promise<RequeueResult> {
  // The oldest failures sit at the right end; take them first, so they are taken first again.
  const entries = (await redis.lrange(keys.failed, limit === null ? 0 : -limit, -1)).reverse();
  const result: RequeueResult = { requeued: 0, skipped: [] };
  for (const entry of entries) {
    const parsed = v.safeParse(EmbeddingJobSchema, jobOfFailedEntry(entry));
    if (!parsed.success) {
      result.skipped.push(describeIssues(parsed.issues));
      continue;
    }
    if (await requeueFailedEntry(redis, keys, entry, serializeJob({ ...parsed.output, retryCount: 0 }))) result.requeued++;
  }
  return result;
}
