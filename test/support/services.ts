// Where the tests find PostgreSQL and Redis, and a fresh database per test file so that
// files run in parallel and re-run cleanly. No mocks: real services only.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createFreshDatabase, type FreshDatabase } from '../../shared/db/fresh-database';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

export const databaseUrl = () => inject('databaseUrl');
export const redisUrl = () => inject('redisUrl');

export type TestDatabase = FreshDatabase;

/** A new, migrated database, dropped by drop(). */
export function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  return createFreshDatabase(databaseUrl(), 'arcyou_test', options);
}

/** A key or channel prefix no other test file uses. */
export const uniquePrefix = (label: string) => `test:${label}:${randomBytes(4).toString('hex')}:`;
