// Applies sql/NNNN_name.sql files in order, each once. Safe when several processes
// start at once: migrations run in one transaction behind an advisory lock, so the
// second process waits, then finds nothing left to do.
//
// A migration whose first line is `-- migrate: no transaction` (building an index on a
// live table: CREATE INDEX CONCURRENTLY cannot run in a transaction) is applied on its
// own, one statement at a time (each ending a line with `;`). Its statements must be
// idempotent (IF NOT EXISTS): an interrupted or concurrent run repeats them. An index it
// creates must be valid before it is recorded; one left invalid by a failed or interrupted
// build is dropped and built again.
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { TransactionSql } from 'postgres';
import type { Sql } from './client';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
const LOCK_KEY = 7_411_203_922; // any constant shared by every migrating process
const NO_TRANSACTION = /^-- migrate: no transaction[ \t]*(\r?\n|$)/;
/** Tries of one statement of a no-transaction migration. */
const STATEMENT_ATTEMPTS = 5;
/** How long a no-transaction migration waits for an index another process is still building. */
const INDEX_BUILD_WAIT_MS = 10 * 60_000;

export interface Migration {
  name: string;
  sql: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((name) => /^\d{4}_[\w-]+\.sql$/.test(name)).sort();
  return Promise.all(names.map(async (name) => ({ name, sql: await readFile(dir + name, 'utf8') })));
}

const outsideTransaction = (migration: Migration) => NO_TRANSACTION.test(migration.sql);

/** Returns the names of the migrations this call applied. */
export async function migrate(sql: Sql, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await readMigrations());
  const applied: string[] = [];
  for (let start = 0; start < all.length;) {
    if (outsideTransaction(all[start]!)) {
      if (await applyOutsideTransaction(sql, all[start]!)) applied.push(all[start]!.name);
      start++;
      continue;
    }
    let end = start;
    while (end < all.length && !outsideTransaction(all[end]!)) end++;
    applied.push(...(await applyInTransaction(sql, all.slice(start, end))));
    start = end;
  }
  return applied;
}

/** Migrations in one transaction: all of them or none. */
function applyInTransaction(sql: Sql, migrations: Migration[]): Promise<string[]> {
  return sql.begin(async (tx) => {
    const done = await appliedNames(tx);
    const applied: string[] = [];
    for (const migration of migrations) {
      if (done.has(migration.name)) continue;
      await tx.unsafe(migration.sql);
      await tx`INSERT INTO schema_migrations (name) VALUES (${migration.name})`;
      applied.push(migration.name);
    }
    return applied;
  });
}

async function applyOutsideTransaction(sql: Sql, migration: Migration): Promise<boolean> {
  if ((await sql.begin((tx) => appliedNames(tx))).has(migration.name)) return false;
  for (const statement of statementsOf(migration.sql)) await runIdempotent(sql, statement);
  return sql.begin(async (tx) => {
    if ((await appliedNames(tx)).has(migration.name)) return false;
    await tx`INSERT INTO schema_migrations (name) VALUES (${migration.name})`;
    return true;
  });
}

/**
 * Runs one statement of a no-transaction migration until it took effect: for an index, until
 * the index is valid. Several processes may run it at once: two builds on one table can
 * deadlock, and IF NOT EXISTS skips an index another process is still building — so a
 * failed try, or an index left invalid, is tried again (the dead index dropped first).
 */
async function runIdempotent(sql: Sql, statement: string): Promise<void> {
  const indexes = indexesCreated(statement);
  const failures: string[] = [];
  for (let attempt = 1; ; attempt++) {
    let failed: unknown = null;
    try {
      // What a failed or interrupted build left behind is built again (another process may be dropping it too).
      for (const index of indexes) await dropDeadIndex(sql, index);
      await sql.unsafe(statement);
    } catch (err) {
      failed = err;
      failures.push((err as Error).message);
    }
    const invalid: string[] = [];
    for (const index of indexes) if (!(await builtValid(sql, index))) invalid.push(index);
    if (!failed && invalid.length === 0) return;
    if (attempt === STATEMENT_ATTEMPTS) {
      if (invalid.length === 0) throw failed;
      const cause = failures.length ? ` (${failures.join('; ')})` : '';
      throw new Error(
        `migration: index ${invalid.join(', ')} is invalid: its build failed${cause}. Fix the cause and migrate again (an invalid index is dropped and built again)`,
      );
    }
    await sleep(100 + Math.random() * 400);
  }
}

/** Takes the migration lock (until the transaction ends) and reads what has been applied. */
async function appliedNames(tx: TransactionSql<{}>): Promise<Set<string>> {
  await tx`SELECT pg_advisory_xact_lock(${LOCK_KEY})`;
  await tx`CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
  return new Set((await tx<{ name: string }[]>`SELECT name FROM schema_migrations`).map((r) => r.name));
}

function statementsOf(text: string): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  for (const line of text.split('\n')) {
    if (current.length === 0 && (line.trim() === '' || line.trimStart().startsWith('--'))) continue;
    current.push(line);
    if (line.trimEnd().endsWith(';')) {
      statements.push(current.join('\n'));
      current = [];
    }
  }
  if (current.join('').trim()) statements.push(current.join('\n'));
  return statements;
}

function indexesCreated(text: string): string[] {
  return [...text.matchAll(/CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+"?(\w+)"?/gi)].map((m) => m[1]!);
}

/** The index's state: absent (null), valid, or invalid and being built or not. */
async function indexState(sql: Sql, index: string): Promise<{ valid: boolean; building: boolean } | null> {
  const [row] = await sql<{ valid: boolean; building: boolean }[]>`
    SELECT i.indisvalid AS valid,
           EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid) AS building
    FROM pg_index i WHERE i.indexrelid = to_regclass(${index})`;
  return row ?? null;
}

/** Drops the index if it is invalid and nobody is building it (a build that failed or was interrupted). */
async function dropDeadIndex(sql: Sql, index: string): Promise<void> {
  const state = await indexState(sql, index);
  if (state && !state.valid && !state.building) await sql`DROP INDEX CONCURRENTLY IF EXISTS ${sql(index)}`;
}

/** Waits for a build of the index in progress (here or elsewhere); true if the index is there and valid. */
async function builtValid(sql: Sql, index: string): Promise<boolean> {
  const deadline = Date.now() + INDEX_BUILD_WAIT_MS;
  for (;;) {
    const state = await indexState(sql, index);
    if (!state) return false;
    if (state.valid) return true;
    if (!state.building || Date.now() > deadline) return false;
    await sleep(200);
  }
}
