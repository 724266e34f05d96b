// The command line of `npm run outbox`: turns argv into a command or a UsageError that
// says what is wrong. Pure, so every bad-argument case is unit-tested.
import { DURATION_EXPECTED, parseDuration } from '../../../shared/duration';
import { parseSubcommand } from '../../../shared/cli/subcommand';
import { UsageError } from '../../../shared/cli/usage-error';

export const OUTBOX_USAGE = `Usage: npm run outbox -- <command> [options]

Commands:
  stats                          rows by type and status, and how long the oldest pending row has waited
      --json                     print JSON instead of a table
  requeue                        put dead rows back to pending: attempts reset to 0, the last error kept
      --type <type>              only rows of this type (e.g. document.preprocess.v1)
      --id <id>[,<id>...]        only these rows (may be repeated)
      --older-than <duration>    only rows created more than this long ago (e.g. 30m, 12h, 7d)
      --all                      every dead row (required when no filter is given)
  purge                          delete published rows
      --older-than <duration>    required: rows published more than this long ago (0 = all)
      --batch <n>                rows per DELETE statement (default 1000)

  -h, --help                     show this help`;

export interface RequeueFilter {
  type: string | null;
  ids: number[] | null;
  olderThanMs: number | null;
}

export type OutboxCommand =
  | { command: 'help' }
  | { command: 'stats'; json: boolean }
  | { command: 'requeue'; filter: RequeueFilter }
  | { command: 'purge'; olderThanMs: number; batchSize: number };

const OPTIONS = {
  stats: { json: { type: 'boolean' } },
  requeue: { type: { type: 'string' }, id: { type: 'string', multiple: true }, 'older-than': { type: 'string' }, all: { type: 'boolean' } },
  purge: { 'older-than': { type: 'string' }, batch: { type: 'string' } },
} as const;

function durationOption(name: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === null) throw new UsageError(`--${name} must be ${DURATION_EXPECTED} (got "${value}")`);
  return ms;
}

function idsOption(values: readonly string[]): number[] {
  return values.flatMap((value) =>
    value.split(',').map((part) => {
      const id = part.trim();
      if (!/^[1-9]\d{0,15}$/.test(id)) throw new UsageError(`--id must be outbox row ids (positive integers), comma-separated (got "${value}")`);
      return Number(id);
    }),
  );
}

export function parseOutboxArgs(argv: readonly string[]): OutboxCommand {
  const parsed = parseSubcommand(argv, OPTIONS);
  if (parsed.command === 'help') return { command: 'help' };
  const { command: name, values } = parsed;

  switch (name) {
    case 'stats':
      return { command: 'stats', json: values.json === true };
    case 'requeue': {
      const filter: RequeueFilter = {
        type: typeof values.type === 'string' ? values.type : null,
        ids: Array.isArray(values.id) ? idsOption(values.id) : null,
        olderThanMs: typeof values['older-than'] === 'string' ? durationOption('older-than', values['older-than']) : null,
      };
      if (filter.type === '') throw new UsageError('--type must not be empty');
      const filtered = filter.type !== null || filter.ids !== null || filter.olderThanMs !== null;
      if (filtered && values.all) throw new UsageError('requeue: --all cannot be combined with --type, --id or --older-than');
      if (!filtered && !values.all) throw new UsageError('requeue: say which dead rows: --type, --id, --older-than, or --all for every one');
      return { command: 'requeue', filter };
    }
    case 'purge': {
      if (typeof values['older-than'] !== 'string')
        throw new UsageError('purge: --older-than is required (e.g. --older-than 7d; 0 purges every published row)');
      const batch = typeof values.batch === 'string' ? values.batch : '1000';
      if (!/^\d+$/.test(batch) || Number(batch) < 1 || Number(batch) > 100_000)
        throw new UsageError(`--batch must be an integer from 1 to 100000 (got "${batch}")`);
      return { command: 'purge', olderThanMs: durationOption('older-than', values['older-than']), batchSize: Number(batch) };
    }
  }
}
