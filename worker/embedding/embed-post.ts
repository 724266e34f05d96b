// The embedding job's work: the post's title and content, chunked, embedded in batches,
// stored per chunk (replacing whatever the post had, unless a later job got there first).
import type { Sql } from '../../shared/db/client';
import { chunkText } from './chunk-text';
import type { EmbeddingsClient } from './embeddings-client';
import { postKey, type EmbeddingJob } from './job';
import { JobError } from './job-error';
import { claimPostVersion } from './sql/claim-post-version';
import { replacePostEmbeddings } from './sql/replace-post-embeddings';

export interface EmbedPostOptions {
  sql: Sql;
  client: EmbeddingsClient;
  model: string;
  chunkChars: number;
  chunkOverlap: number;
  /** Inputs per embeddings request. */
  batchSize: number;
  /** A post that needs more chunks than this fails (it is not retried). */
  maxChunks: number;
}

export function createPostEmbedder(options: EmbedPostOptions) {
  return async (job: EmbeddingJob): Promise<{ chunks: number; superseded?: true }> => {
    const text = [job.title.trim(), job.content.trim()].filter(Boolean).join('\n\n');
    const chunks = chunkText(text, { maxChars: options.chunkChars, overlap: options.chunkOverlap });
    if (chunks.length > options.maxChunks) {
      throw new JobError(
        `post too long: ${chunks.length} chunks of ${options.chunkChars} characters, more than EMBEDDING_MAX_CHUNKS=${options.maxChunks}`,
        false,
      );
    }
    const vectors: number[][] = [];
    for (let i = 0; i < chunks.length; i += options.batchSize) {
      vectors.push(...(await options.client.embed(chunks.slice(i, i + options.batchSize))));
    }
    const postId = postKey(job);
    const stored = await options.sql.begin(async (tx) => {
      const current = await claimPostVersion(tx, {
        postId,
        enqueuedAt: job.enqueued_at ? new Date(job.enqueued_at) : null,
        model: options.model,
        chunks: chunks.length,
      });
      if (!current) return false;
      await replacePostEmbeddings(
        tx,
        postId,
        options.model,
        chunks.map((content, i) => ({ chunk_index: i, content, embedding: vectors[i]! })),
      );
      return true;
    });
    // A job enqueued later already stored its version: ours is stale, and done.
    if (!stored) return { chunks: chunks.length, superseded: true };
    return { chunks: chunks.length };
  };
}
