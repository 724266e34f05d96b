import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The installed postgres.js must carry our fix (shared/db/patch-postgres-driver.mjs, run by
// npm's postinstall): without it a connection dropping mid-write can crash the process.
describe('postgres.js driver patch', () => {
  for (const file of ['src/connection.js', 'cjs/src/connection.js']) {
    it(`is applied to ${file}`, () => {
      const source = readFileSync(new URL(`../../node_modules/postgres/${file}`, import.meta.url), 'utf8');
      expect(source).toContain('/* arcyou: patched nextWrite */');
      expect(source.match(/chunk = nextWriteTimer = null/g)).toHaveLength(4);
    });
  }
});
