// Outbox rows in any state, for tests of the housekeeping and ops tools.
import type { Sql } from '../../shared/db/client';

export interface RowSpec {
  type?: string;
  status?: 'pending' | 'in_progress' | 'published' | 'dead';
  /** Age of created_at (and of published_at for published rows), in seconds. */
  ageSeconds?: number;
  attempts?: number;
  error?: string | null;
  payload?: Record<string, unknown>;
}

export async function insertOutboxRows(sql: Sql, count: number, spec: RowSpec = {}): Promise<number[]> {
  const status = spec.status ?? 'pending';
  const age = spec.ageSeconds ?? 0;
  const rows = await sql<{ id: number }[]>`
    INSERT INTO outbox (type, payload, status, attempts, error, created_at, published_at, next_attempt_at)
    SELECT ${spec.type ?? 'message.created'}, ${sql.json((spec.payload ?? {}) as never)}, ${status}::outbox_status,
           ${spec.attempts ?? 0}, ${spec.error ?? null},
           now() - make_interval(secs => ${age}),
           CASE WHEN ${status} = 'published' THEN now() - make_interval(secs => ${age}) END,
           now() + interval '1 hour'
    FROM generate_series(1, ${count})
    RETURNING id`;
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

export async function outboxStatuses(sql: Sql): Promise<Map<number, { status: string; attempts: number; error: string | null }>> {
  const rows = await sql<{ id: number; status: string; attempts: number; error: string | null }[]>`SELECT id, status, attempts, error FROM outbox ORDER BY id`;
  return new Map(rows.map((r) => [r.id, { status: r.status, attempts: r.attempts, error: r.error }]));
}
