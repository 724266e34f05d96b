import { describe, expect, it } from 'vitest';
import { listenDatabaseUrl } from './listen-sql';

const direct = 'postgres://db:5432/arcyou';
const bouncer = 'postgres://pgbouncer:6432/arcyou';

describe('listenDatabaseUrl', () => {
  it('listens on DATABASE_URL itself when it reaches PostgreSQL directly', () => {
    expect(listenDatabaseUrl({ DATABASE_URL: direct, DATABASE_POOL_MODE: 'direct' })).toBe(direct);
  });

  it('takes LISTEN_DATABASE_URL over DATABASE_URL', () => {
    expect(listenDatabaseUrl({ DATABASE_URL: bouncer, DATABASE_POOL_MODE: 'transaction', LISTEN_DATABASE_URL: direct })).toBe(direct);
    expect(listenDatabaseUrl({ DATABASE_URL: direct, DATABASE_POOL_MODE: 'direct', LISTEN_DATABASE_URL: 'postgres://other/arcyou' })).toBe(
      'postgres://other/arcyou',
    );
  });

  it('does not listen through PgBouncer in transaction pooling without a direct URL', () => {
    expect(listenDatabaseUrl({ DATABASE_URL: bouncer, DATABASE_POOL_MODE: 'transaction' })).toBeNull();
  });
});
