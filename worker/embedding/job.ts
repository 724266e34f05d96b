// The embedding job as it travels through Redis (README: Embedding worker): versioned JSON, validated on
// the way in and on the way out. A job that does not validate is never retried.
import * as v from 'valibot';
import { describeIssues } from '../../shared/describe-issues';

export const EMBEDDING_JOB_VERSION = 1;

export const EmbeddingJobSchema = v.looseObject({
  version: v.literal(EMBEDDING_JOB_VERSION, `unsupported version (this consumer reads version ${EMBEDDING_JOB_VERSION})`),
  post_id: v.union(
    [
      v.pipe(v.string(), v.trim(), v.minLength(1, 'must not be empty')),
      v.pipe(v.number(), v.safeInteger('must be an integer'), v.minValue(0, 'must be 0 or more')),
    ],
    'must be a non-empty string or a non-negative integer',
  ),
  title: v.string('must be a string'),
  content: v.string('must be a string'),
  /** When the producer queued it; orders jobs for one post (the later one wins). Optional for older producers. */
  enqueued_at: v.optional(v.pipe(v.string('must be a string'), v.isoTimestamp('must be an ISO 8601 timestamp'))),
  retryCount: v.optional(v.pipe(v.number('must be a number'), v.safeInteger('must be an integer'), v.minValue(0, 'must be 0 or more')), 0),
});

export type EmbeddingJob = v.InferOutput<typeof EmbeddingJobSchema>;

/** What a producer supplies; the version and retry count are filled in. */
export type NewEmbeddingJob = Pick<EmbeddingJob, 'post_id' | 'title' | 'content'>;

export type ParsedJob = { job: EmbeddingJob } | { invalid: string; value: unknown };

/** A job from its raw list entry, or why it is not one (with whatever could be parsed). */
export function parseJob(raw: string): ParsedJob {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { invalid: 'not JSON', value: raw };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { invalid: 'not a JSON object', value };
  const result = v.safeParse(EmbeddingJobSchema, value);
  return result.success ? { job: result.output } : { invalid: describeIssues(result.issues), value };
}

export const serializeJob = (job: EmbeddingJob): string => JSON.stringify(job);

export function newJob(job: NewEmbeddingJob, now = new Date()): EmbeddingJob {
  return v.parse(EmbeddingJobSchema, {
    version: EMBEDDING_JOB_VERSION,
    post_id: job.post_id,
    title: job.title,
    content: job.content,
    enqueued_at: now.toISOString(),
    retryCount: 0,
  });
}

/** The post id as the database keys it. */
export const postKey = (job: EmbeddingJob): string => String(job.post_id);
