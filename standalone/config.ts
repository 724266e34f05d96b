// `npm start` understands every gateway and chat worker variable, with these differences:
// DATABASE_URL and REDIS_URL are optional (embedded PostgreSQL / in-process bus when
// unset), it listens on 127.0.0.1 unless told otherwise, and the demo page is on.
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { busRedisUrl, databaseUrl, flag, integer, text } from '../shared/config';
import { gatewayEnv } from '../gateway/config';
import { chatWorkerEnv } from '../worker/config';

export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.data', import.meta.url));

export const standaloneEnv = {
  ...gatewayEnv,
  ...chatWorkerEnv,
  /** Unset: start the embedded PostgreSQL, data in ARCYOU_DATA_DIR/postgres. */
  DATABASE_URL: v.optional(databaseUrl),
  /** Unset: gateway and chat worker talk through the in-process bus. */
  REDIS_URL: v.optional(busRedisUrl),
  /** Dev-placeholder auth accepts any user id as a token: keep it off the network unless asked. */
  HOST: text('127.0.0.1'),
  DEMO_UI: flag(true),
  /** Where `npm start` keeps its data (the embedded PostgreSQL's folder); relative to the working directory. */
  ARCYOU_DATA_DIR: text(DEFAULT_DATA_DIR),
  /** Port of the embedded PostgreSQL (127.0.0.1 only); 0 = any free port. */
  EMBEDDED_PG_PORT: integer(0, 0, 65_535),
  /** Seed the demo room and users (idempotent). */
  DEMO_SEED: flag(true),
};
