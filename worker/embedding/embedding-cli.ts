// `npm run embedding -- <stats|requeue|enqueue>`: look at and repair the embedding queue.
// Exit codes: 0 done, 1 Redis failed, 2 bad arguments or configuration.
import { commonEnv, ConfigError, loadConfig } from '../../shared/config';
import { createRedisClient, type RedisClient } from '../../shared/redis';
import { UsageError } from '../../shared/cli/usage-error';
import { loadEmbeddingQueueConfig } from './config';
import { EMBEDDING_USAGE, parseEmbeddingArgs, type EmbeddingCommand } from './embedding-args';
import { queueKeys, type QueueKeys } from './keys';
import { enqueueEmbeddingJob } from './producer';
import { formatQueueStats, queueStats } from './queue-stats';
import { requeueFailed } from './requeue-failed';

const print = (text: string) => process.stdout.write(`${text}\n`);

async function run(redis: RedisClient, keys: QueueKeys, command: Exclude<EmbeddingCommand, { command: 'help' }>): Promise<void> {
  switch (command.command) {
    case 'stats':
      print(formatQueueStats(keys, await queueStats(redis, keys)));
      return;
    case 'requeue': {
      const { requeued, skipped } = await requeueFailed(redis, keys, command.limit);
      print(`Requeued ${requeued} job(s) from ${keys.failed} to ${keys.queue}.`);
      if (skipped.length === 1) print(`Left 1 entry on ${keys.failed}: it holds no valid job (${skipped[0]}).`);
      if (skipped.length > 1) print(`Left ${skipped.length} entries on ${keys.failed}: they hold no valid job (first: ${skipped[0]}).`);
      return;
    }
    case 'enqueue': {
      const length = await enqueueEmbeddingJob(redis, keys.queue, { post_id: command.postId, title: command.title, content: command.content });
      print(`Queued post ${command.postId} on ${keys.queue} (${length} waiting).`);
      return;
    }
  }
}

async function main(argv: string[]): Promise<number> {
  let command: EmbeddingCommand;
  let config;
  try {
    command = parseEmbeddingArgs(argv);
    if (command.command === 'help') {
      print(EMBEDDING_USAGE);
      return 0;
    }
    loadConfig(commonEnv); // checked as in every process
    config = loadEmbeddingQueueConfig();
  } catch (err) {
    if (err instanceof UsageError) process.stderr.write(`embedding: ${err.message}\nRun \`npm run embedding -- --help\` for usage.\n`);
    else if (err instanceof ConfigError) process.stderr.write(`embedding: ${err.message}\n`);
    else throw err;
    return 2;
  }
  const redis = createRedisClient(config.REDIS_URL, 'arcyou-embedding-cli');
  // ioredis reports a refused connection on the client, and only "max retries" on the command.
  let connectionError: string | null = null;
  redis.on('error', (err: Error) => (connectionError = err.message));
  try {
    await run(redis, queueKeys(config.EMBEDDING_QUEUE_KEY, config.EMBEDDING_FAILED_KEY), command);
    return 0;
  } catch (err) {
    const why = connectionError ? `cannot reach Redis (${connectionError})` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`embedding: ${command.command} failed: ${why}\n`);
    return 1;
  } finally {
    redis.disconnect();
  }
}

process.exitCode = await main(process.argv.slice(2));
