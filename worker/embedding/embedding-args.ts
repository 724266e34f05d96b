// The command line of `npm run embedding`. Pure, so every bad-argument case is unit-tested.
import { parseSubcommand } from '../../shared/cli/subcommand';
import { UsageError } from '../../shared/cli/usage-error';

export const EMBEDDING_USAGE = `Usage: npm run embedding -- <command> [options]

Commands:
  stats                      jobs waiting, backing off, in flight (per consumer) and failed
  requeue                    move failed jobs back to the queue with retryCount 0, oldest first
      --limit <n>            at most n jobs (default: all)
  enqueue                    queue one job (for trying the worker out)
      --post-id <id>         required
      --title <text>         default ""
      --content <text>       required

  -h, --help                 show this help`;

export type EmbeddingCommand =
  | { command: 'help' }
  | { command: 'stats' }
  | { command: 'requeue'; limit: number | null }
  | { command: 'enqueue'; postId: string; title: string; content: string };

const OPTIONS = {
  stats: {},
  requeue: { limit: { type: 'string' } },
  enqueue: { 'post-id': { type: 'string' }, title: { type: 'string' }, content: { type: 'string' } },
} as const;

export function parseEmbeddingArgs(argv: readonly string[]): EmbeddingCommand {
  const parsed = parseSubcommand(argv, OPTIONS);
  if (parsed.command === 'help') return { command: 'help' };
  const { command: name, values } = parsed;

  switch (name) {
    case 'stats':
      return { command: 'stats' };
    case 'requeue': {
      if (values.limit === undefined) return { command: 'requeue', limit: null };
      const limit = String(values.limit);
      if (!/^\d+$/.test(limit) || Number(limit) < 1) throw new UsageError(`--limit must be a positive integer (got "${limit}")`);
      return { command: 'requeue', limit: Number(limit) };
    }
    case 'enqueue': {
      const postId = typeof values['post-id'] === 'string' ? values['post-id'].trim() : '';
      if (!postId) throw new UsageError('enqueue: --post-id is required');
      if (typeof values.content !== 'string') throw new UsageError('enqueue: --content is required');
      return { command: 'enqueue', postId, title: typeof values.title === 'string' ? values.title : '', content: values.content };
    }
  }
}
