// The connection an outbox worker LISTENs on for wake-ups. LISTEN needs a session of its
// own, which PgBouncer in transaction pooling does not keep: through it, only
// LISTEN_DATABASE_URL (a direct URL) will do, and without one the worker polls.
import { createSql, type Sql } from './client';

export interface ListenSettings {
  LISTEN_DATABASE_URL?: string | undefined;
  DATABASE_POOL_MODE: 'direct' | 'transaction';
  DATABASE_URL: string;
}

/** Where to LISTEN, or null when nowhere can (poll only). */
export function listenDatabaseUrl(settings: ListenSettings): string | null {
  return settings.LISTEN_DATABASE_URL ?? (settings.DATABASE_POOL_MODE === 'direct' ? settings.DATABASE_URL : null);
}

/** One connection for LISTEN, or null when nowhere can (poll only). */
export function createListenSql(settings: ListenSettings, applicationName: string): Sql | null {
  const url = listenDatabaseUrl(settings);
  return url ? createSql(url, { max: 1, applicationName }) : null;
}
