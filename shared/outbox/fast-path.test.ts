import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FAST_PATH_OWNER_PREFIX, fastPathOwner } from './fast-path';

describe('fast-path row owner', () => {
  it('is the prefix the SQL and the partial indexes spell out literally', () => {
    expect(fastPathOwner('gw-1')).toBe(`${FAST_PATH_OWNER_PREFIX}gw-1`);
    for (const file of ['../../sql/0005_room_seq.sql', '../../worker/outbox/sql/claim.ts', '../../gateway/sql/insert-messages.ts']) {
      const text = readFileSync(new URL(file, import.meta.url), 'utf8');
      expect(text, file).toContain(`NOT LIKE '${FAST_PATH_OWNER_PREFIX}%'`);
    }
  });
});
