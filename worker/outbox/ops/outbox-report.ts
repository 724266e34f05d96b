// What `npm run outbox -- stats` prints.
import type { TypeCounts } from './sql/outbox-counts';
import { formatAge, formatTable } from '../../../shared/cli/format-table';

export function totals(counts: readonly TypeCounts[]): TypeCounts {
  const oldest = counts.map((c) => c.oldest_pending_seconds).filter((s): s is number => s !== null);
  return {
    type: 'TOTAL',
    pending: counts.reduce((n, c) => n + c.pending, 0),
    in_progress: counts.reduce((n, c) => n + c.in_progress, 0),
    published: counts.reduce((n, c) => n + c.published, 0),
    dead: counts.reduce((n, c) => n + c.dead, 0),
    oldest_pending_seconds: oldest.length ? Math.max(...oldest) : null,
  };
}

export function formatStats(counts: readonly TypeCounts[]): string {
  if (counts.length === 0) return 'The outbox is empty.';
  const row = (c: TypeCounts) => [
    c.type,
    String(c.pending),
    String(c.in_progress),
    String(c.published),
    String(c.dead),
    c.oldest_pending_seconds === null ? '-' : formatAge(c.oldest_pending_seconds),
  ];
  return formatTable(['TYPE', 'PENDING', 'IN_PROGRESS', 'PUBLISHED', 'DEAD', 'OLDEST_PENDING'], [...counts.map(row), row(totals(counts))]);
}
