// The npm scripts as a user runs them: real processes, real PostgreSQL and Redis.
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { createTestDatabase, redisUrl, type TestDatabase } from './support/services';
import { TestClient } from './support/ws-client';

/** `npm run <script>`, as a user or a container runs it: signals sent to npm must reach the process. */
function run(script: string, env: Record<string, string>): RunningProcess {
  // Its own process group: npm cannot pass a SIGKILL on, so teardown kills the group (npm and the script).
  return spawnProcess({ command: 'npm', args: ['run', '-s', script], env: { LOG_LEVEL: 'info', ...env }, detached: true });
}

describe('npm run migrate / gateway / worker', () => {
  let db: TestDatabase;
  const procs: RunningProcess[] = [];
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    for (const p of procs) p.kill();
    await db.drop();
  });

  it('migrate applies the schema, then finds it up to date', async () => {
    const first = run('migrate', { DATABASE_URL: db.url });
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('applied');
    const second = run('migrate', { DATABASE_URL: db.url });
    expect(await second.exited).toBe(0);
    expect(second.output()).toContain('schema is up to date');
  });

  it('two clients chat through a gateway process and a worker process; both stop cleanly on SIGTERM', async () => {
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
      PORT: '0',
      HOST: '127.0.0.1',
      PUBSUB_MODE: 'perconv',
      POLL_INTERVAL_MS: '5000',
      METRICS_PORT: '0',
    };
    const gateway = run('gateway', env);
    const worker = run('worker', env);
    procs.push(gateway, worker);
    const port = Number((await gateway.waitForOutput(/"port":(\d+)/))[1]);
    await worker.waitForOutput(/chat worker started/);

    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    const a = await TestClient.connect(port);
    const b = await TestClient.connect(port);
    await a.login(alice, roomId);
    await b.login(bob, roomId);
    const reply = await a.request({ op: 'send', room_id: roomId, content: { text: 'across processes' } });
    const event = await b.waitFor((f) => f.message?.id === reply.message_id, 3000);
    expect(event.message.content).toEqual({ text: 'across processes' });

    gateway.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    expect(await worker.exited).toBe(0);
    expect((await a.closed).code).toBe(1001);
    expect(gateway.output()).toContain('gateway stopped');
    expect(worker.output()).toContain('chat worker stopped');
  }, 60_000);

  it('refuses to start with an invalid setting, naming the variable and what it expects', async () => {
    const gateway = run('gateway', { DATABASE_URL: db.url, REDIS_URL: redisUrl(), PORT: 'eighty', RL_BUCKET_CAPACITY: '-3' });
    expect(await gateway.exited).toBe(2);
    expect(gateway.output()).toContain('PORT must be an integer from 0 to 65535 (got "eighty")');
    expect(gateway.output()).toContain('RL_BUCKET_CAPACITY must be an integer from 1 to 1000000');
    const worker = run('worker', { DATABASE_URL: 'mysql://x', REDIS_URL: redisUrl(), PUBSUB_MODE: 'fast' });
    expect(await worker.exited).toBe(2);
    expect(worker.output()).toContain('DATABASE_URL must be a URL starting with postgres:// or postgresql://');
    expect(worker.output()).toContain('PUBSUB_MODE must be one of global, perconv (got "fast")');
  });

  // uWS does not set SO_REUSEADDR: a gateway restarted on the port of one that just died
  // could not listen while the old connections were in TIME_WAIT, and exited.
  /** A gateway told to listen on a port another server holds, once it says it will try again. */
  async function gatewayOnATakenPort() {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as AddressInfo).port;
    const gateway = run('gateway', { DATABASE_URL: db.url, REDIS_URL: redisUrl(), HOST: '127.0.0.1', PORT: String(port) });
    procs.push(gateway);
    await gateway.waitForOutput(/port is taken; trying again/);
    return { gateway, port, holder };
  }

  it('waits for its port while it is taken (a restart after a crash), then listens on it', async () => {
    const { gateway, port, holder } = await gatewayOnATakenPort();
    await new Promise((resolve) => holder.close(resolve));
    const [, listening] = await gateway.waitForOutput(/"port":(\d+)[^\n]*gateway listening/);
    expect(Number(listening)).toBe(port);
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
  });

  it('refuses to run on the pure-JS uWebSockets.js fallback', async () => {
    const gateway = run('gateway', { DATABASE_URL: db.url, REDIS_URL: redisUrl(), PORT: '0', UWS_USE_FALLBACK: 'true' });
    expect(await gateway.exited).toBe(1);
    expect(gateway.output()).toMatch(/refusing to run on the (slow )?pure-JS uWebSockets\.js fallback/);
  });

  it('stops at once on SIGTERM while it waits for its taken port, instead of after the retries', async () => {
    const { gateway, holder } = await gatewayOnATakenPort();
    gateway.child.kill('SIGTERM');
    // The retries go on for 90 s; a stop waits for at most one of their 1 s pauses.
    const exit = await Promise.race([gateway.exited, sleep(10_000).then(() => 'still running')]);
    holder.close();
    expect(exit).toBe(0);
    expect(gateway.output()).toContain('gateway stopped');
  }, 30_000);

  it('refuses the development token mode in production', async () => {
    const gateway = run('gateway', { DATABASE_URL: db.url, REDIS_URL: redisUrl(), PORT: '0', NODE_ENV: 'production' });
    expect(await gateway.exited).toBe(2);
    expect(gateway.output()).toContain('JWT_PUBLIC_KEY must be an RS256 PEM public key when NODE_ENV=production');
  });
});
