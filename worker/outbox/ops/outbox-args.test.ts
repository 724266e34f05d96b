import { describe, expect, it } from 'vitest';
import { parseOutboxArgs } from './outbox-args';
import { UsageError } from '../../../shared/cli/usage-error';

const usageError = (argv: string[]) => {
  try {
    parseOutboxArgs(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`no UsageError for ${argv.join(' ')}`);
};

describe('parseOutboxArgs', () => {
  it('reads stats, with or without --json', () => {
    expect(parseOutboxArgs(['stats'])).toEqual({ command: 'stats', json: false });
    expect(parseOutboxArgs(['stats', '--json'])).toEqual({ command: 'stats', json: true });
  });

  it('reads requeue filters, combined with AND', () => {
    expect(parseOutboxArgs(['requeue', '--type', 'document.preprocess.v1'])).toEqual({
      command: 'requeue',
      filter: { type: 'document.preprocess.v1', ids: null, olderThanMs: null },
    });
    expect(parseOutboxArgs(['requeue', '--id', '3,4', '--id', '9', '--older-than', '1h'])).toEqual({
      command: 'requeue',
      filter: { type: null, ids: [3, 4, 9], olderThanMs: 3_600_000 },
    });
    expect(parseOutboxArgs(['requeue', '--all'])).toEqual({ command: 'requeue', filter: { type: null, ids: null, olderThanMs: null } });
  });

  it('reads purge with its age and batch size', () => {
    expect(parseOutboxArgs(['purge', '--older-than', '7d'])).toEqual({ command: 'purge', olderThanMs: 604_800_000, batchSize: 1000 });
    expect(parseOutboxArgs(['purge', '--older-than=0', '--batch', '50'])).toEqual({ command: 'purge', olderThanMs: 0, batchSize: 50 });
  });

  it('shows help for no command, help, -h and --help', () => {
    for (const argv of [[], ['help'], ['-h'], ['--help'], ['requeue', '--help']]) expect(parseOutboxArgs(argv)).toEqual({ command: 'help' });
  });

  it('explains each bad argument', () => {
    expect(usageError(['stat'])).toBe('unknown command "stat" (expected stats, requeue or purge)');
    expect(usageError(['stats', '--all'])).toMatch(/^stats: Unknown option '--all'/);
    expect(usageError(['stats', 'extra'])).toMatch(/^stats: .*positional/i);
    expect(usageError(['requeue'])).toBe('requeue: say which dead rows: --type, --id, --older-than, or --all for every one');
    expect(usageError(['requeue', '--all', '--type', 'x'])).toBe('requeue: --all cannot be combined with --type, --id or --older-than');
    expect(usageError(['requeue', '--id', '12a'])).toBe('--id must be outbox row ids (positive integers), comma-separated (got "12a")');
    expect(usageError(['requeue', '--id', '0'])).toMatch(/^--id must be/);
    expect(usageError(['requeue', '--older-than', 'yesterday'])).toBe(
      '--older-than must be a duration such as 90s, 15m, 12h, 7d or a number of seconds (got "yesterday")',
    );
    expect(usageError(['requeue', '--type'])).toMatch(/^requeue: Option '--type <value>' argument missing/);
    expect(usageError(['purge'])).toBe('purge: --older-than is required (e.g. --older-than 7d; 0 purges every published row)');
    expect(usageError(['purge', '--older-than', '1d', '--batch', '0'])).toBe('--batch must be an integer from 1 to 100000 (got "0")');
  });
});
