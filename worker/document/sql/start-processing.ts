import type { Sql } from '../../../shared/db/client';

export type DocumentStatus = 'pending' | 'processing' | 'processed' | 'failed';

/**
 * Moves a document to `processing` unless it is already `processed`, and returns the
 * status it had (null: no such document). `processing` and `failed` are accepted too:
 * a job retried after a crash or requeued by an operator finds the document there.
 */
export async function startProcessing(sql: Sql, documentId: string): Promise<DocumentStatus | null> {
  const [row] = await sql<{ previous: DocumentStatus }[]>`
    WITH doc AS (
      SELECT id, processing_status FROM documents WHERE id = ${documentId} FOR UPDATE
    ), started AS (
      UPDATE documents d SET processing_status = 'processing', updated_at = now()
      FROM doc WHERE d.id = doc.id AND doc.processing_status <> 'processed'
    )
    SELECT processing_status AS previous FROM doc`;
  return row?.previous ?? null;
}
