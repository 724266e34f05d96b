// One document worker: `document.*` outbox rows go to the preprocessing sidecar.
import { DOCUMENT_JOB_PREFIX } from '../../shared/outbox/document-preprocess';
import { startOutboxWorker, type OutboxWorkerDeps } from '../outbox/worker';
import type { DocumentWorkerConfig } from './config';
import { createDocumentProcessor } from './document-processor';
import { createSidecarClient } from './sidecar-client';

export type DocumentWorkerDeps = OutboxWorkerDeps;

export function startDocumentWorker(config: DocumentWorkerConfig, deps: DocumentWorkerDeps): Promise<{ stop(): Promise<void> }> {
  return startOutboxWorker(
    config,
    {
      filter: { includeTypePrefix: DOCUMENT_JOB_PREFIX },
      maxAttempts: config.DOCUMENT_MAX_ATTEMPTS,
      process: createDocumentProcessor({
        sql: deps.sql,
        logger: deps.logger,
        sidecar: createSidecarClient(config.sidecarBaseUrl, config.SIDECAR_TIMEOUT_MS),
        maxAttempts: config.DOCUMENT_MAX_ATTEMPTS,
        concurrency: config.DOCUMENT_CONCURRENCY,
      }),
    },
    deps,
  );
}
