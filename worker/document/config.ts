import * as v from 'valibot';
import { integer, loadConfig, url, type ConfigRule, type ConfigOf } from '../../shared/config';
import { outboxWorkerEnv } from '../config';

// The document worker takes DOCUMENT_MAX_ATTEMPTS instead of MAX_ATTEMPTS, so a shared
// env file that turns on chat retries does not turn on document retries by accident.
const { MAX_ATTEMPTS: _chatOnly, ...sharedEnv } = outboxWorkerEnv;

const httpUrl = url(['http:', 'https:']);

export const documentWorkerEnv = {
  ...sharedEnv,
  // A sidecar call can take a while: few rows claimed at once, long locks.
  BATCH_SIZE: integer(4, 1, 1000),
  LOCK_SECONDS: integer(300, 1, 86_400),
  /** Next to the chat worker's 9091 when both run on one host. */
  METRICS_PORT: integer(9092, 0, 65_535),
  SIDECAR_BASE_URL: v.optional(httpUrl, 'http://localhost:8000'),
  /** The seed's other name for SIDECAR_BASE_URL; wins when both are set. */
  DOCUMENT_SIDECAR_BASE_URL: v.optional(httpUrl),
  SIDECAR_TIMEOUT_MS: integer(60_000, 100, 3_600_000),
  /** Sidecar calls in flight at once. */
  DOCUMENT_CONCURRENCY: integer(4, 1, 256),
  /** 1 = the seed's policy (a failure is final); more = retries with BACKOFF_BASE_MS..BACKOFF_CAP_MS. */
  DOCUMENT_MAX_ATTEMPTS: integer(1, 1, 1000),
};

export type DocumentWorkerConfig = ReturnType<typeof loadDocumentWorkerConfig>;

// A row is claimed only for a free slot, so it waits for nothing but its own sidecar call.
const lockOutlastsAJob: ConfigRule<ConfigOf<typeof documentWorkerEnv>> = {
  names: ['LOCK_SECONDS'],
  holds: (config) => config.LOCK_SECONDS * 1000 > config.SIDECAR_TIMEOUT_MS,
  must: (config) =>
    `be more than the longest a job can take, SIDECAR_TIMEOUT_MS = ${config.SIDECAR_TIMEOUT_MS / 1000} s, ` +
    'or the reaper hands rows still being processed to another worker',
};

/** documentWorkerEnv, plus the check that a job finishes before its lock runs out. */
export function loadDocumentWorkerConfig(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(documentWorkerEnv, env, [lockOutlastsAJob]);
  return Object.freeze({ ...config, sidecarBaseUrl: config.DOCUMENT_SIDECAR_BASE_URL ?? config.SIDECAR_BASE_URL });
}
