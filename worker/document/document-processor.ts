// The document worker's processor: each claimed `document.*` row is one sidecar call,
// bracketed by the document's status (pending → processing → processed | failed).
import * as v from 'valibot';
import type { Sql } from '../../shared/db/client';
import { describeIssues } from '../../shared/describe-issues';
import type { Logger } from '../../shared/logger';
import { DOCUMENT_PREPROCESS_TYPE, DocumentPreprocessPayload } from '../../shared/outbox/document-preprocess';
import type { ProcessEach, RowOutcome } from '../outbox/loop';
import type { OutboxRow } from '../outbox/sql/claim';
import type { SidecarClient } from './sidecar-client';
import { finishProcessing } from './sql/finish-processing';
import { startProcessing } from './sql/start-processing';

export interface DocumentProcessorOptions {
  sql: Sql;
  sidecar: SidecarClient;
  logger: Logger;
  /** 1 = the seed's policy: a failed job is dead at once. Must match the loop's maxAttempts. */
  maxAttempts: number;
  /** Jobs (sidecar calls) in flight at once: a slow one holds one slot, the others go on. */
  concurrency: number;
}

const dead = (error: string): RowOutcome => ({ error, dead: true });

export function createDocumentProcessor(options: DocumentProcessorOptions): ProcessEach {
  const { sql, sidecar, logger } = options;

  const preprocess = async (row: OutboxRow): Promise<RowOutcome> => {
    const parsed = v.safeParse(DocumentPreprocessPayload, row.payload);
    if (!parsed.success) return dead(`invalid ${row.type} payload: ${describeIssues(parsed.issues)}`);
    const { documentId, userId } = parsed.output;

    const previous = await startProcessing(sql, documentId);
    if (previous === null) return dead(`document ${documentId} does not exist`);
    if (previous === 'processed') {
      logger.info({ id: row.id, documentId }, 'document already processed; job skipped');
      return null;
    }

    const startedAt = performance.now();
    const result = await sidecar.parse(documentId, userId);
    const ms = Math.round(performance.now() - startedAt);
    if (result.ok) {
      await finishProcessing(sql, documentId, 'processed');
      logger.info({ id: row.id, documentId, ms }, 'document processed');
      return null;
    }
    const final = !result.retryable || row.attempts + 1 >= options.maxAttempts;
    await finishProcessing(sql, documentId, final ? 'failed' : 'pending');
    logger.warn({ id: row.id, documentId, ms, attempt: row.attempts + 1, final, error: result.error }, 'document preprocessing failed');
    return final ? dead(result.error) : { error: result.error };
  };

  const processRow = async (row: OutboxRow): Promise<RowOutcome> => {
    if (row.type !== DOCUMENT_PREPROCESS_TYPE) return dead(`unknown document job type "${row.type}" (this worker handles ${DOCUMENT_PREPROCESS_TYPE})`);
    try {
      return await preprocess(row);
    } catch (err) {
      // Our own database failed mid-job: an ordinary failure, retried if the policy allows.
      return { error: `document job failed: ${err instanceof Error ? err.message : String(err)}`, cause: err };
    }
  };

  return { run: processRow, concurrency: options.concurrency };
}
