import type { Queryable } from '../../../shared/db/queryable';

export interface ChunkVector {
  chunk_index: number;
  content: string;
  embedding: number[];
}

/**
 * Makes a post's stored chunks exactly `chunks`, in one statement: each chunk upserted by
 * (post_id, chunk_index), chunks past the new count deleted. Running it again with the
 * same chunks changes nothing but updated_at; never duplicates. Run it after
 * claimPostVersion in the same transaction: that lock is what makes its snapshot current.
 */
export async function replacePostEmbeddings(sql: Queryable, postId: string, model: string, chunks: readonly ChunkVector[]): Promise<void> {
  await sql`
    WITH incoming AS (
      SELECT * FROM jsonb_to_recordset(${sql.json(chunks as never)}) AS c(chunk_index integer, content text, embedding real[])
    ), upserted AS (
      INSERT INTO post_embeddings (post_id, chunk_index, content, embedding, model, updated_at)
      SELECT ${postId}, chunk_index, content, embedding, ${model}, now() FROM incoming
      ON CONFLICT (post_id, chunk_index) DO UPDATE
      SET content = excluded.content, embedding = excluded.embedding, model = excluded.model, updated_at = excluded.updated_at
    )
    DELETE FROM post_embeddings p
    WHERE p.post_id = ${postId} AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.chunk_index = p.chunk_index)`;
}
