// A new database on a PostgreSQL server, migrated, dropped again by drop(): one per test
// file, bench run or soak run, so they never share state and re-run cleanly.
import { randomBytes } from 'node:crypto';
import { createSql, type Sql } from './client';
import { migrate } from './migrate';

export interface FreshDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

/** `serverUrl` is any database URL on the server (its database is used to CREATE/DROP). */
export async function createFreshDatabase(serverUrl: string, prefix: string, options: { migrate?: boolean; max?: number } = {}): Promise<FreshDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = createSql(serverUrl, { max: 1 });
  try {
    await admin`CREATE DATABASE ${admin(name)}`;
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const sql = createSql(url.toString(), { max: options.max ?? 10 });
  if (options.migrate ?? true) await migrate(sql);
  return {
    url: url.toString(),
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const dropper = createSql(serverUrl, { max: 1 });
      try {
        await dropper`DROP DATABASE IF EXISTS ${dropper(name)} WITH (FORCE)`;
      } finally {
        await dropper.end();
      }
    },
  };
}
