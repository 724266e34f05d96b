import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql } from './client';
import { migrate, readMigrations } from './migrate';
import { createTestDatabase, type TestDatabase } from '../../test/support/services';

describe('migrate', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(() => db.drop());

  it('applies every migration once, even when several processes start at once', async () => {
    const pools = Array.from({ length: 4 }, () => createSql(db.url, { max: 1 }));
    const results = await Promise.all(pools.map((sql) => migrate(sql)));
    await Promise.all(pools.map((sql) => sql.end()));
    const all = (await readMigrations()).map((m) => m.name);
    expect(results.flat().sort()).toEqual(all);
    const rows = await db.sql<{ name: string }[]>`SELECT name FROM schema_migrations ORDER BY name`;
    expect(rows.map((r) => r.name)).toEqual(all);
  });

  it('is idempotent: a second run applies nothing', async () => {
    expect(await migrate(db.sql)).toEqual([]);
  });

  it('builds an index outside a transaction (CONCURRENTLY) once, even with several processes at once, and records it', async () => {
    await db.sql`CREATE TABLE live_table (id int, body text)`;
    await db.sql`INSERT INTO live_table SELECT g, md5(g::text) FROM generate_series(1, 20000) g`;
    const online = [
      { name: '9990_before.sql', sql: 'CREATE TABLE IF NOT EXISTS before_online (id int)' },
      {
        name: '9991_online.sql',
        sql: '-- migrate: no transaction\n-- comment\nCREATE INDEX CONCURRENTLY IF NOT EXISTS live_table_body_idx\n  ON live_table (body);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS live_table_id_idx ON live_table (id);\n',
      },
    ];
    const pools = Array.from({ length: 3 }, () => createSql(db.url, { max: 1 }));
    const results = await Promise.all(pools.map((sql) => migrate(sql, online)));
    await Promise.all(pools.map((sql) => sql.end()));
    expect(results.flat().sort()).toEqual(['9990_before.sql', '9991_online.sql']);
    const indexes = await db.sql<{ name: string; valid: boolean }[]>`
      SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = 'live_table'::regclass ORDER BY 1`;
    expect(indexes).toEqual([
      { name: 'live_table_body_idx', valid: true },
      { name: 'live_table_id_idx', valid: true },
    ]);
    expect(await migrate(db.sql, online)).toEqual([]);
  });

  it('refuses to record an online migration whose index build failed, and builds it again once the cause is fixed', async () => {
    await db.sql`CREATE TABLE dup_table (v int)`;
    await db.sql`INSERT INTO dup_table VALUES (1), (1)`;
    const broken = [
      { name: '9992_unique.sql', sql: '-- migrate: no transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS dup_table_v_idx ON dup_table (v);\n' },
    ];
    await expect(migrate(db.sql, broken)).rejects.toThrow(/dup_table_v_idx is invalid.*could not create unique index/);
    // The failed build left an invalid index behind: a second run must not take it for done.
    await expect(migrate(db.sql, broken)).rejects.toThrow(/dup_table_v_idx is invalid.*could not create unique index/);
    const [row] = await db.sql`SELECT count(*)::int AS n FROM schema_migrations WHERE name = '9992_unique.sql'`;
    expect(row!.n).toBe(0);
    await db.sql`DELETE FROM dup_table WHERE ctid = (SELECT min(ctid) FROM dup_table)`;
    expect(await migrate(db.sql, broken)).toEqual(['9992_unique.sql']);
    const [index] = await db.sql`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'dup_table_v_idx'::regclass`;
    expect(index!.valid).toBe(true);
  });

  it('applies nothing of a migration that fails', async () => {
    const bad = [
      { name: '9998_ok.sql', sql: 'CREATE TABLE will_roll_back (id int)' },
      { name: '9999_bad.sql', sql: 'CREATE TABLE oops (' },
    ];
    await expect(migrate(db.sql, bad)).rejects.toThrow();
    const [row] = await db.sql`SELECT to_regclass('will_roll_back') AS t`;
    expect(row!.t).toBeNull();
  });
});
