import postgres from 'postgres';

export type Sql = postgres.Sql<{}>;

export interface DbOptions {
  /** `transaction` = through PgBouncer in transaction pooling: no named prepared statements. */
  poolMode?: 'direct' | 'transaction';
  max?: number;
  applicationName?: string;
  /** Server notices (RAISE NOTICE, auto_explain); dropped by default. */
  onNotice?: (notice: postgres.Notice) => void;
}

/** A postgres.js pool. bigint columns (ids) come back as JS numbers: ids stay far below 2^53. */
export function createSql(url: string, options: DbOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    prepare: (options.poolMode ?? 'direct') === 'direct',
    onnotice: options.onNotice ?? (() => {}),
    // postgres.js waits (0.5–1) × min(3^n / 100, 20) s before reconnecting, n counting the
    // failed attempts of the whole pool: a 2 s database restart left every process idle for
    // up to 20 s after it was back. Retry every 50 ms – 1 s instead.
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** retries, 1),
    connection: { application_name: options.applicationName ?? 'arcyou' },
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (value: number | bigint | string) => String(value),
        parse: (value: string) => Number(value),
      },
    },
  }) as unknown as Sql;
}
