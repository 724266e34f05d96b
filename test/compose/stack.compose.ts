// `npm run test:compose`: docker-compose.yml run for real on a Docker engine. The public
// base images are local stand-ins (test/support/compose-images.ts); the project's own
// image is built from deploy/Dockerfile. The stack comes up healthy, members chat through
// it (gateway over PgBouncer, chat worker, Redis), a service is restarted and chat goes on,
// and everything is torn down again (volumes too).
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStandInImages } from '../support/compose-images';
import { ROOT } from '../support/child-process';
import { TestClient, type Frame } from '../support/ws-client';
import { until } from '../support/bus-faults';

/** Fixed, so that a run killed before its teardown is cleaned up by the next one. */
const PROJECT = 'arcyou-compose-test';
const GATEWAY_PORT = 8080;
const SERVICES = ['postgres', 'pgbouncer', 'redis', 'gateway', 'chat-worker', 'document-worker', 'embedding-worker'];

function compose(...args: string[]): string {
  return composeWithInput(undefined, ...args);
}

function composeWithInput(input: string | undefined, ...args: string[]): string {
  const result = spawnSync('docker-compose', ['-p', PROJECT, ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, input });
  if (result.status !== 0)
    throw new Error(`docker-compose ${args.join(' ')} failed (${result.status}):\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`);
  return result.stdout;
}

/**
 * SQL run by psql inside the postgres container (the database is not published to the
 * host). Values go in as psql variables (`:'name'` in the statement, quoted by psql).
 */
const psql = (statement: string, vars: Record<string, string> = {}) =>
  composeWithInput(
    statement,
    'exec',
    '-T',
    'postgres',
    'psql',
    '-U',
    'arcyou',
    '-d',
    'arcyou',
    '-tA',
    '-v',
    'ON_ERROR_STOP=1',
    ...Object.entries(vars).flatMap(([k, v]) => ['-v', `${k}=${v}`]),
  ).trim();

const healthOf = (service: string) => {
  const id = compose('ps', '-q', service).trim();
  return id ? spawnSync('docker', ['inspect', '-f', '{{.State.Health.Status}}', id], { encoding: 'utf8' }).stdout.trim() : 'absent';
};

const ready = async () =>
  fetch(`http://127.0.0.1:${GATEWAY_PORT}/ready`).then(
    (r) => r.ok,
    () => false,
  );

describe('docker compose, for real', () => {
  const clients: TestClient[] = [];
  beforeAll(async () => {
    buildStandInImages((line) => console.log(`compose test: building ${line}`));
    compose('down', '-v', '--remove-orphans', '-t', '5');
    compose('build');
    compose('up', '-d');
    await until('every service healthy', () => SERVICES.every((s) => healthOf(s) === 'healthy'), 180_000, 1000);
    await until('the gateway ready on the host', ready, 30_000, 500);
  }, 600_000);
  afterAll(() => {
    for (const c of clients) c.close();
    try {
      compose('down', '-v', '--remove-orphans', '-t', '20');
    } catch (err) {
      console.error((err as Error).message);
    }
  }, 120_000);

  const newRoom = (members: string[]) => {
    const roomId = psql("INSERT INTO arcyou_chat_rooms (name) VALUES ('compose test') RETURNING id").split('\n')[0]!;
    psql("INSERT INTO arcyou_chat_members (room_id, user_id) SELECT :'room', unnest(string_to_array(:'users', ','))::uuid", {
      room: roomId,
      users: members.join(','),
    });
    return roomId;
  };
  const member = async (userId: string, roomId: string) => {
    const client = await TestClient.connect(GATEWAY_PORT);
    clients.push(client);
    await client.login(userId, roomId);
    return client;
  };
  const sendAndSee = async (from: TestClient, to: TestClient, roomId: string, text: string) => {
    const reply = await from.request({ op: 'send', room_id: roomId, content: { text } }, 10_000);
    expect(reply.success, JSON.stringify(reply)).toBe(true);
    await to.waitFor((f: Frame) => f.op === 'event' && f.message?.id === reply.message_id, 10_000, `"${text}" at the other member`);
    return reply;
  };

  it('chats through the stack: sends stored through PgBouncer, a removal made in the database published by the chat worker over Redis', async () => {
    const [alice, bob, carol] = [randomUUID(), randomUUID(), randomUUID()];
    const roomId = newRoom([alice, bob, carol]);
    const [a, b, c] = [await member(alice, roomId), await member(bob, roomId), await member(carol, roomId)];
    const reply = await sendAndSee(a, b, roomId, 'hello through compose');
    expect(psql("SELECT content->>'text' FROM arcyou_chat_messages WHERE id = :'id'", { id: String(reply.message_id) })).toBe('hello through compose');
    // A removal made in the database: its outbox row is the chat worker's to publish.
    psql("DELETE FROM arcyou_chat_members WHERE room_id = :'room' AND user_id = :'user'", { room: roomId, user: carol });
    await c.waitFor((f: Frame) => f.op === 'event' && f.type === 'member.removed', 15_000, 'carol told of her removal');
    await b.waitFor((f: Frame) => f.op === 'event' && f.type === 'member.removed', 15_000, 'bob told of carol\u2019s removal');
    // The worker counts a row once it has settled it, which can be just after the members saw it.
    const counted = /arcyou_worker_jobs_total\{[^}]*type="member\.removed"[^}]*status="published"[^}]*\} [1-9]/;
    await until(
      'the chat worker counting the removal it published',
      async () => counted.test(await (await fetch('http://127.0.0.1:9091/metrics')).text()),
      10_000,
      200,
    );
  }, 60_000);

  it('goes on after a service restart: the gateway restarted, members come back and chat; Redis restarted, the worker\u2019s events still reach the gateway', async () => {
    const [alice, bob, dave] = [randomUUID(), randomUUID(), randomUUID()];
    const roomId = newRoom([alice, bob, dave]);
    await sendAndSee(await member(alice, roomId), await member(bob, roomId), roomId, 'before the restart');
    compose('restart', '-t', '20', 'gateway');
    await until('the gateway ready again', ready, 60_000, 500);
    const [a, b] = [await member(alice, roomId), await member(bob, roomId)];
    // The rejoin's backfill holds what came before.
    await b.waitFor(
      (f: Frame) => f.op === 'event' && f.message?.content?.text === 'before the restart',
      10_000,
      'the message from before the restart, in the backfill',
    );
    await sendAndSee(a, b, roomId, 'after the gateway restart');

    compose('restart', '-t', '20', 'redis');
    await until('redis healthy again', () => healthOf('redis') === 'healthy', 60_000, 500);
    await until('the gateway ready again after Redis', ready, 60_000, 500);
    await sleep(500);
    const [a2, b2] = [await member(alice, roomId), await member(bob, roomId)];
    await sendAndSee(a2, b2, roomId, 'after the redis restart');
    // Only the chat worker, through Redis, can bring this one.
    psql("DELETE FROM arcyou_chat_members WHERE room_id = :'room' AND user_id = :'user'", { room: roomId, user: dave });
    await b2.waitFor((f: Frame) => f.op === 'event' && f.type === 'member.removed', 15_000, 'bob told of dave\u2019s removal after the Redis restart');
    for (const s of SERVICES) expect(healthOf(s), s).toBe('healthy');
  }, 240_000);
});
