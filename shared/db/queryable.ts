import type { TransactionSql } from 'postgres';
import type { Sql } from './client';

/** A pool or an open transaction (`sql.begin(tx => ...)`): what a query module runs on. */
export type Queryable = Sql | TransactionSql<{}>;
