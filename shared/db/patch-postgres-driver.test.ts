import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { databaseUrl } from '../../test/support/services';
import { createSql } from './client';

// The installed postgres.js must carry our fixes (shared/db/patch-postgres-driver.mjs, run by
// npm's postinstall): without them a connection dropping mid-write, or terminated while it
// starts, can crash the process; and without LIFO every statement finds a cold backend.
const driverSource = (file: string) => readFileSync(new URL(`../../node_modules/postgres/${file}`, import.meta.url), 'utf8');

describe('postgres.js driver patch', () => {
  for (const dir of ['src', 'cjs/src']) {
    it(`is applied to ${dir}/connection.js`, () => {
      const source = driverSource(`${dir}/connection.js`);
      expect(source).toContain('/* arcyou: patched nextWrite */');
      expect(source.match(/chunk = nextWriteTimer = null/g)).toHaveLength(4);
      expect(source).toContain('return fetchArrayTypes().catch(() => {}) /* arcyou: patched fetchArrayTypes */');
    });
    it(`is applied to ${dir}/index.js and ${dir}/queue.js`, () => {
      expect(driverSource(`${dir}/index.js`).match(/open\.pop\(\).*\/\* arcyou: patched LIFO \*\//g)).toHaveLength(2);
      expect(driverSource(`${dir}/queue.js`)).toContain('pop: () => { /* arcyou: patched LIFO */');
    });
  }
});

describe('postgres.js pool', () => {
  it('gives each query the idle connection used last, so that one-at-a-time queries stay on one backend', async () => {
    const sql = createSql(databaseUrl(), { max: 3 });
    try {
      // Three connections open and idle.
      const opened = await Promise.all([1, 2, 3].map(() => sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid, pg_sleep(0.05)`));
      expect(new Set(opened.map(([row]) => row!.pid)).size).toBe(3);
      const pids = new Set<number>();
      for (let i = 0; i < 12; i++) pids.add((await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid);
      expect(pids.size).toBe(1);
      // A query while that one is busy takes another idle connection, and both stay usable.
      const [[busy], [other]] = await Promise.all([
        sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid, pg_sleep(0.02)`,
        sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`,
      ]);
      expect(busy!.pid).not.toBe(other!.pid);
      const reserved = await sql.reserve();
      expect((await reserved<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid).toBeGreaterThan(0);
      reserved.release();
    } finally {
      await sql.end();
    }
  });
});

describe('postgres.js with a connection whose first (array-types) query fails', () => {
  // statement_timeout=1ms at connect cancels the driver's own array-types query: unpatched,
  // its rejection is unhandled and the process exits (porsager/postgres#1192).
  it('fails the query, not the process', () => {
    const script = `
      import postgres from 'postgres';
      process.on('unhandledRejection', (err) => { console.log('unhandled ' + err.code); process.exit(3); });
      const sql = postgres(process.env.URL, { max: 1, connection: { statement_timeout: 1 }, onnotice: () => {} });
      try { await sql\`select 1\`; console.log('ok'); } catch (err) { console.log('query failed ' + err.code); }
      await new Promise((resolve) => setTimeout(resolve, 300));
      await sql.end();`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, URL: databaseUrl() },
      encoding: 'utf8',
    });
    expect(result.stdout).not.toContain('unhandled');
    expect(result.status).toBe(0);
  });
});
