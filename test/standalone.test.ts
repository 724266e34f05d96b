// `npm start` as a newcomer runs it: no DATABASE_URL, no REDIS_URL. It must start an
// embedded PostgreSQL, print where to connect and whom to be, carry a chat between two
// clients, stop cleanly on SIGTERM (PostgreSQL included), and find its data again on
// the next start. Data goes to a temporary ARCYOU_DATA_DIR, not the developer's .data/.
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READY_LINE } from '../standalone/banner';
import { isAlive } from '../standalone/embedded-postgres';
import { spawnProcess, type RunningProcess } from './support/child-process';
import { TestClient } from './support/ws-client';

const START_TIMEOUT_MS = 90_000;

interface Started extends RunningProcess {
  port: number;
  roomId: string;
  users: Record<string, string>;
  serverKey: string;
  postgresPid: number;
}

/** Reads what the banner promises: the WebSocket port, the demo room, the demo users and the development server API key. */
function parseBanner(text: string) {
  const banner = text.slice(text.indexOf(READY_LINE));
  const port = Number(/WebSocket\s+ws:\/\/127\.0\.0\.1:(\d+)\//.exec(banner)?.[1]);
  const roomId = /Demo room\s+([0-9a-f-]{36})/.exec(banner)?.[1];
  const users = Object.fromEntries([...banner.matchAll(/^\s+(?:Demo users\s+)?(Alice|Bob|Carol)\s+([0-9a-f-]{36})$/gm)].map((m) => [m[1]!, m[2]!]));
  const serverKey = /Server API\s+\S+\s+Authorization: Bearer (\S+)/.exec(banner)?.[1];
  if (!port || !roomId || !users.Alice || !users.Bob || !serverKey) throw new Error(`cannot read the banner:\n${banner}`);
  return { port, roomId, users, serverKey };
}

const children: RunningProcess[] = [];
/** The development server API key of the first start: the second must print the same. */
let firstServerKey: string | undefined;
const postgresPids: number[] = [];

async function npmStart(dataDir: string): Promise<Started> {
  const env: Record<string, string | undefined> = { ARCYOU_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info' };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'LISTEN_DATABASE_URL', 'HOST', 'DEMO_UI', 'NODE_ENV', 'JWT_PUBLIC_KEY']) env[name] = undefined;
  // Its own process group, so that cleanup after a failure can reach every process in it.
  const proc = spawnProcess({ command: 'npm', args: ['start', '--silent'], env, detached: true });
  children.push(proc);
  await proc.waitForOutput(/Stop with Ctrl-C\./, START_TIMEOUT_MS);
  const postgresPid = Number((await readFile(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
  postgresPids.push(postgresPid);
  return Object.assign(proc, { postgresPid, ...parseBanner(proc.output()) });
}

/** SIGTERM to npm alone, as a supervisor sends it: everything must stop, with exit code 0. */
async function stop(started: Started) {
  started.child.kill('SIGTERM');
  const result = await Promise.race([
    started.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit 30 s after SIGTERM:\n${started.output()}`)), 30_000)),
  ]);
  return result;
}

describe('npm start (zero set-up)', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'arcyou-start-'));
    // Run as root, PostgreSQL runs as the `postgres` user, which must reach the folder.
    await chmod(dataDir, 0o755);
  });

  afterAll(async () => {
    for (const child of children) child.kill();
    for (const pid of postgresPids) if (isAlive(pid)) process.kill(pid, 'SIGQUIT');
    await rm(dataDir, { recursive: true, force: true }).catch(() => {});
  });

  it('starts embedded PostgreSQL and the in-process bus, chats between two demo users, and stops everything on SIGTERM', { timeout: 120_000 }, async () => {
    const started = await npmStart(dataDir);
    expect(started.output()).toContain('creating the PostgreSQL data folder');
    expect(started.output()).toMatch(/Bus\s+in-process/);
    expect(isAlive(started.postgresPid)).toBe(true);

    const page = await fetch(`http://127.0.0.1:${started.port}/demo`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('ArcYou chat demo');

    const alice = await TestClient.connect(started.port);
    const bob = await TestClient.connect(started.port);
    await alice.login(started.users.Alice!, started.roomId);
    await bob.login(started.users.Bob!, started.roomId);
    // The seeded welcome message, as backfill.
    const welcome = await bob.waitFor((f) => f.op === 'event' && f.source === 'backfill');
    expect(welcome.message.content.text).toMatch(/Welcome/);

    const sent = await alice.request({ op: 'send', room_id: started.roomId, content: { text: 'hello from alice' } });
    expect(sent.success).toBe(true);
    const live = await bob.waitFor((f) => f.op === 'event' && f.message?.id === sent.message_id);
    expect(live).toMatchObject({ source: 'live', roomId: started.roomId, message: { user_id: started.users.Alice, content: { text: 'hello from alice' } } });

    // The printed development key opens the server API.
    const created = await fetch(`http://127.0.0.1:${started.port}/v1/rooms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${started.serverKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'made with the dev key', members: [{ user_id: started.users.Alice }] }),
    });
    expect(created.status).toBe(201);
    firstServerKey = started.serverKey;

    const closed = Promise.all([alice.closed, bob.closed]);
    expect(await stop(started)).toBe(0);
    expect((await closed).map((c) => c.code)).toEqual([1001, 1001]);
    expect(isAlive(started.postgresPid)).toBe(false);
    expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  });

  it('finds its data again on the next start: no new initdb, the demo room seeded once, the earlier chat as backfill', { timeout: 120_000 }, async () => {
    const started = await npmStart(dataDir);
    expect(started.output()).not.toContain('creating the PostgreSQL data folder');
    expect(started.serverKey).toBe(firstServerKey);

    const bob = await TestClient.connect(started.port);
    await bob.login(started.users.Bob!, started.roomId);
    const earlier = await bob.waitFor((f) => f.op === 'event' && f.message?.content?.text === 'hello from alice');
    expect(earlier.source).toBe('backfill');
    const welcomes = bob.events(started.roomId).filter((f) => /Welcome/.test(f.message?.content?.text ?? ''));
    expect(welcomes).toHaveLength(1);

    expect(await stop(started)).toBe(0);
    expect(isAlive(started.postgresPid)).toBe(false);
  });
});
