import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { databaseUrl } from '../../test/support/services';

// The installed postgres.js must carry our fixes (shared/db/patch-postgres-driver.mjs, run by
// npm's postinstall): without them a connection dropping mid-write, or terminated while it
// starts, can crash the process.
describe('postgres.js driver patch', () => {
  for (const file of ['src/connection.js', 'cjs/src/connection.js']) {
    it(`is applied to ${file}`, () => {
      const source = readFileSync(new URL(`../../node_modules/postgres/${file}`, import.meta.url), 'utf8');
      expect(source).toContain('/* arcyou: patched nextWrite */');
      expect(source.match(/chunk = nextWriteTimer = null/g)).toHaveLength(4);
      expect(source).toContain('return fetchArrayTypes().catch(() => {}) /* arcyou: patched fetchArrayTypes */');
    });
  }
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
