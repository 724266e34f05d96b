import { createSql, type Sql } from '../../shared/db/client';

/**
 * Runs `work` on a connection of its own with auto_explain on, and returns the plan of
 * every statement it ran (nested ones too), as EXPLAIN prints them. For tests that check
 * which index a statement uses.
 */
export async function plansOf(databaseUrl: string, work: (sql: Sql) => Promise<void>): Promise<string[]> {
  const plans: string[] = [];
  const sql = createSql(databaseUrl, { max: 1, onNotice: (notice) => plans.push(String(notice.message)) });
  try {
    await sql`LOAD 'auto_explain'`;
    await sql`SET auto_explain.log_min_duration = 0`;
    await sql`SET auto_explain.log_nested_statements = on`;
    await sql`SET auto_explain.log_level = notice`;
    plans.length = 0;
    await work(sql);
    return plans;
  } finally {
    await sql.end();
  }
}
