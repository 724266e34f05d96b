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
    expect(results.filter((applied) => applied.length > 0)).toHaveLength(1);
    const rows = await db.sql<{ name: string }[]>`SELECT name FROM schema_migrations ORDER BY name`;
    expect(rows.map((r) => r.name)).toEqual(all);
  });

  it('is idempotent: a second run applies nothing', async () => {
    expect(await migrate(db.sql)).toEqual([]);
  });

  it('applies nothing of a migration that fails', async () => {
    const bad = [{ name: '9998_ok.sql', sql: 'CREATE TABLE will_roll_back (id int)' }, { name: '9999_bad.sql', sql: 'CREATE TABLE oops (' }];
    await expect(migrate(db.sql, bad)).rejects.toThrow();
    const [row] = await db.sql`SELECT to_regclass('will_roll_back') AS t`;
    expect(row!.t).toBeNull();
  });
});
