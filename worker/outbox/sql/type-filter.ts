import type { Sql } from '../../../shared/db/client';

/** Which outbox rows a worker kind handles, by the start of their type (e.g. `document.`). */
export interface TypeFilter {
  /** Only rows whose type starts with this. */
  includeTypePrefix?: string;
  /** Only rows whose type does not start with this. */
  excludeTypePrefix?: string;
}

/** The condition that an outbox row `o` passes `filter` (the claim and the backlog read it alike). */
export function typeMatches(sql: Sql, filter: TypeFilter) {
  const include = filter.includeTypePrefix ?? null;
  const exclude = filter.excludeTypePrefix ?? null;
  return sql`
    (${include}::text IS NULL OR left(o.type, length(${include}::text)) = ${include}::text)
    AND (${exclude}::text IS NULL OR left(o.type, length(${exclude}::text)) <> ${exclude}::text)`;
}
