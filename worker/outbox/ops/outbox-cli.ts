// `npm run outbox -- <stats|requeue|purge>`: look at and repair the outbox by hand.
// Exit codes: 0 done, 1 the database failed, 2 bad arguments or configuration.
import { commonEnv, ConfigError, databaseEnv, loadConfig } from '../../../shared/config';
import { createSql, type Sql } from '../../../shared/db/client';
import { sweepPublished } from '../maintenance/retention';
import { OUTBOX_USAGE, parseOutboxArgs, type OutboxCommand } from './outbox-args';
import { formatStats, totals } from './outbox-report';
import { outboxCounts } from './sql/outbox-counts';
import { requeueDead } from './sql/requeue-dead';
import { UsageError } from '../../../shared/cli/usage-error';

const print = (text: string) => process.stdout.write(`${text}\n`);

/** The message, with PostgreSQL's or the socket's error code when the message lacks it. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as Error & { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

async function run(sql: Sql, command: Exclude<OutboxCommand, { command: 'help' }>): Promise<void> {
  switch (command.command) {
    case 'stats': {
      const counts = await outboxCounts(sql);
      print(command.json ? JSON.stringify({ types: counts, total: totals(counts) }, null, 2) : formatStats(counts));
      return;
    }
    case 'requeue': {
      const rows = await requeueDead(sql, command.filter);
      if (rows.length === 0) {
        print('No dead rows matched; nothing requeued.');
        return;
      }
      const byType = new Map<string, number>();
      for (const row of rows) byType.set(row.type, (byType.get(row.type) ?? 0) + 1);
      print(`Requeued ${rows.length} dead row(s) to pending:`);
      for (const [type, n] of byType) print(`  ${type}: ${n}`);
      if (rows.length <= 20) print(`ids: ${rows.map((r) => r.id).join(', ')}`);
      return;
    }
    case 'purge': {
      const deleted = await sweepPublished(sql, { retentionMs: command.olderThanMs, batchSize: command.batchSize });
      print(`Purged ${deleted} published row(s) older than ${command.olderThanMs / 1000} s.`);
      return;
    }
  }
}

async function main(argv: string[]): Promise<number> {
  let command: OutboxCommand;
  try {
    command = parseOutboxArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`outbox: ${err.message}\nRun \`npm run outbox -- --help\` for usage.\n`);
    return 2;
  }
  if (command.command === 'help') {
    print(OUTBOX_USAGE);
    return 0;
  }
  let config;
  try {
    config = loadConfig({ ...commonEnv, ...databaseEnv });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`outbox: ${err.message}\n`);
    return 2;
  }
  const sql = createSql(config.DATABASE_URL, { poolMode: config.DATABASE_POOL_MODE, max: 1, applicationName: 'arcyou-outbox-cli' });
  try {
    await run(sql, command);
    return 0;
  } catch (err) {
    process.stderr.write(`outbox: ${command.command} failed: ${describeError(err)}\n`);
    return 1;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

process.exitCode = await main(process.argv.slice(2));
