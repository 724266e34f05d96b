// Applies sql/NNNN_name.sql files in order, each once. Safe when several processes
// start at once: everything runs in one transaction behind an advisory lock, so the
// second process waits, then finds nothing left to do.
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Sql } from './client';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
const LOCK_KEY = 7_411_203_922; // any constant shared by every migrating process

export interface Migration {
  name: string;
  sql: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((name) => /^\d{4}_[\w-]+\.sql$/.test(name)).sort();
  return Promise.all(names.map(async (name) => ({ name, sql: await readFile(dir + name, 'utf8') })));
}

/** Returns the names of the migrations this call applied. */
export async function migrate(sql: Sql, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await readMigrations());
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${LOCK_KEY})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
    const done = new Set((await tx<{ name: string }[]>`SELECT name FROM schema_migrations`).map((r) => r.name));
    const applied: string[] = [];
    for (const migration of all) {
      if (done.has(migration.name)) continue;
      await tx.unsafe(migration.sql);
      await tx`INSERT INTO schema_migrations (name) VALUES (${migration.name})`;
      applied.push(migration.name);
    }
    return applied;
  });
}
