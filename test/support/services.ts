// Where the tests find PostgreSQL and Redis, and a fresh database per test file so that
// files run in parallel and re-run cleanly. No mocks: real services only.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createSql, type Sql } from '../../shared/db/client';
import { migrate } from '../../shared/db/migrate';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

export const databaseUrl = () => inject('databaseUrl');
export const redisUrl = () => inject('redisUrl');

export interface TestDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A new, migrated database, dropped by drop(). */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `arcyou_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = createSql(databaseUrl(), { max: 1 });
  await admin`CREATE DATABASE ${admin(name)}`;
  await admin.end();
  const url = withDatabase(databaseUrl(), name);
  const sql = createSql(url, { max: 10 });
  if (options.migrate ?? true) await migrate(sql);
  return {
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const admin = createSql(databaseUrl(), { max: 1 });
      await admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`;
      await admin.end();
    },
  };
}

/** A key or channel prefix no other test file uses. */
export const uniquePrefix = (label: string) => `test:${label}:${randomBytes(4).toString('hex')}:`;
