import type { Sql } from '../../../shared/db/client';

/**
 * Records how a processing run ended: `processed`, `failed`, or back to `pending` when the
 * job will be retried. Only a document still in `processing` changes.
 */
export async function finishProcessing(sql: Sql, documentId: string, status: 'processed' | 'failed' | 'pending'): Promise<boolean> {
  const result = await sql`
    UPDATE documents SET processing_status = ${status}::document_processing_status, updated_at = now()
    WHERE id = ${documentId} AND processing_status = 'processing'`;
  return result.count > 0;
}
