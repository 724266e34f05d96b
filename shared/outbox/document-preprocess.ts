// The document preprocessing job (README: Document worker): what producers enqueue and what the
// document worker accepts.
import * as v from 'valibot';
import type { Queryable } from '../db/queryable';
import { enqueueOutbox } from './enqueue';

export const DOCUMENT_JOB_PREFIX = 'document.';
export const DOCUMENT_PREPROCESS_TYPE = 'document.preprocess.v1';

export const DocumentPreprocessPayload = v.object({
  documentId: v.pipe(v.string('must be a string'), v.uuid('must be a UUID')),
  userId: v.pipe(v.string('must be a string'), v.uuid('must be a UUID')),
});
export type DocumentPreprocessPayload = v.InferOutput<typeof DocumentPreprocessPayload>;

export const defaultPreprocessDedupeKey = (documentId: string) => `${DOCUMENT_PREPROCESS_TYPE}:${documentId}`;

/**
 * Queues preprocessing of a document in the caller's transaction. By default a document
 * is queued once (dedupe key per document), so a retried upload handler does not parse it
 * twice; pass another `dedupeKey` (e.g. per upload) to allow a new run, or null for none.
 * Returns the outbox row id, or null when the job was already queued.
 */
export function enqueueDocumentPreprocess(sql: Queryable, job: DocumentPreprocessPayload & { dedupeKey?: string | null }): Promise<number | null> {
  const payload = v.parse(DocumentPreprocessPayload, { documentId: job.documentId, userId: job.userId });
  return enqueueOutbox(sql, {
    type: DOCUMENT_PREPROCESS_TYPE,
    orderingKey: payload.documentId,
    payload,
    dedupeKey: job.dedupeKey === undefined ? defaultPreprocessDedupeKey(payload.documentId) : job.dedupeKey,
  });
}
