// Applies sql/NNNN_name.sql files in order, each once. Safe when several processes
// start at once: migrations run in one transaction behind an advisory lock, so the
// second process waits, then finds nothing left to do.
//
// A migration whose first line is `-- migrate: no transaction` (building an index on a
// live table: CREATE INDEX CONCURRENTLY cannot run in a transaction) is applied on its
// own, one statement at a time (each ending a line with `;`). Its statements must be
// idempotent (IF NOT EXISTS): an interrupted or concurrent run repeats them. Indexes it
// creates are checked to be valid before it is recorded.
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { TransactionSql } from 'postgres';
import type { Sql } from './client';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
const LOCK_KEY = 7_411_203_922; // any constant shared by every migrating process
const NO_TRANSACTION = /^-- migrate: no transaction\s*$/m;
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

const outsideTransaction = (migration: Migration) => NO_TRANSACTION.test(migration.sql.split('\n', 1)[0]!);

/** Returns the names of the migrations this call applied. */
export async function migrate(sql: Sql, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await readMigrations());
  const applied: string[] = [];
  for (let start = 0; start < all.length; ) {
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
  const failures: string[] = [];
  for (const statement of statementsOf(migration.sql)) {
    try {
      await sql.unsafe(statement);
    } catch (err) {
      // Another process ran the same statement at the same moment: IF NOT EXISTS sees its result now.
      failures.push((err as Error).message);
      await new Promise((r) => setTimeout(r, 1000));
      await sql.unsafe(statement);
    }
  }
  for (const index of indexesCreated(migration.sql)) await waitUntilValid(sql, index, failures);
  return sql.begin(async (tx) => {
    if ((await appliedNames(tx)).has(migration.name)) return false;
    await tx`INSERT INTO schema_migrations (name) VALUES (${migration.name})`;
    return true;
  });
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
  return [...text.matchAll(/CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+("?[\w.]+"?)/gi)].map((m) => m[1]!);
}

/**
 * An index built CONCURRENTLY is invalid until its build finishes, and stays so if the build
 * was interrupted. Waits for a build in progress elsewhere; refuses to go on past a dead one.
 */
async function waitUntilValid(sql: Sql, index: string, failures: readonly string[]): Promise<void> {
  const deadline = Date.now() + INDEX_BUILD_WAIT_MS;
  for (;;) {
    const [row] = await sql<{ valid: boolean; building: boolean }[]>`
      SELECT i.indisvalid AS valid,
             EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid) AS building
      FROM pg_index i WHERE i.indexrelid = to_regclass(${index})`;
    if (!row) throw new Error(`migration: index ${index} was not created`);
    if (row.valid) return;
    if (!row.building || Date.now() > deadline) {
      const cause = failures.length ? ` (${failures.join('; ')})` : '';
      throw new Error(`migration: index ${index} is invalid: its build failed or was interrupted${cause}. Drop that index (concurrently), fix the cause, then migrate again`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
