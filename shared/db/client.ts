import postgres from 'postgres';

export type Sql = postgres.Sql<{}>;

export interface DbOptions {
  /** `transaction` = through PgBouncer in transaction pooling: no named prepared statements. */
  poolMode?: 'direct' | 'transaction';
  max?: number;
  applicationName?: string;
}

/** A postgres.js pool. bigint columns (ids) come back as JS numbers: ids stay far below 2^53. */
export function createSql(url: string, options: DbOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    prepare: (options.poolMode ?? 'direct') === 'direct',
    onnotice: () => {},
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
