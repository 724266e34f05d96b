// Abuse (issue 6): connections that never authenticate are closed after AUTH_TIMEOUT_MS,
// and one client flooding ops or connections cannot starve the others.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startChatters } from './support/chatters';
import { logProblems, startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { createTestDatabase, redisUrl, type TestDatabase } from './support/services';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

const CLOSE_AUTH_TIMEOUT = 4001;

describe('authentication timeout', () => {
  const AUTH_TIMEOUT_MS = 400;
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS) }, { worker: false });
  });
  afterAll(() => system.stop());

  const closesWithin = async (client: TestClient) => {
    const started = Date.now();
    const { code, reason } = await client.closed;
    return { code, reason, afterMs: Date.now() - started };
  };

  it('closes a connection that sends nothing with 4001 once AUTH_TIMEOUT_MS has passed', async () => {
    const client = await TestClient.connect(system.port);
    const closed = await closesWithin(client);
    expect(closed).toMatchObject({ code: CLOSE_AUTH_TIMEOUT, reason: 'authentication timeout' });
    expect(closed.afterMs).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 50);
    expect(closed.afterMs).toBeLessThan(AUTH_TIMEOUT_MS + 3000);
  });

  it('closes it just the same when it keeps talking without authenticating, or fails to', async () => {
    const chatty = await TestClient.connect(system.port);
    const failing = await TestClient.connect(system.port);
    const talk = setInterval(() => {
      chatty.sendRaw(JSON.stringify({ op: 'join', room_id: randomUUID() }));
      failing.sendRaw(JSON.stringify({ op: 'auth', token: 'not-a-token' }));
    }, 50);
    try {
      expect((await chatty.closed).code).toBe(CLOSE_AUTH_TIMEOUT);
      expect((await failing.closed).code).toBe(CLOSE_AUTH_TIMEOUT);
    } finally {
      clearInterval(talk);
    }
    expect(chatty.frames.some((f) => f.error === 'Unauthorized')).toBe(true);
    expect(failing.frames.every((f) => f.success === false)).toBe(true);
  });

  it('keeps a connection that authenticated in time open past the timeout', async () => {
    const client = await TestClient.connect(system.port);
    await client.login(newUser());
    await sleep(AUTH_TIMEOUT_MS * 2.5);
    expect(await client.request({ op: 'join', room_id: randomUUID() })).toMatchObject({ error: 'Forbidden: not a member' });
    client.close();
  });

  it('closes many idle connections at once and keeps serving', async () => {
    const idle = await Promise.all(Array.from({ length: 200 }, () => TestClient.connect(system.port)));
    const codes = await Promise.all(idle.map(async (c) => (await c.closed).code));
    expect(codes.every((code) => code === CLOSE_AUTH_TIMEOUT)).toBe(true);
    expect(system.gateway.stats.connections).toBe(0);
    const client = await TestClient.connect(system.port);
    await client.login(newUser());
    client.close();
  });
});

describe('one abusive client cannot starve the others', () => {
  // Gateway and worker run as their own processes, so the abusers' client-side work in this
  // process does not share an event loop with the gateway and blur the latency measured.
  let db: TestDatabase;
  let gateway: RunningProcess & { port: number };
  let worker: RunningProcess;
  beforeAll(async () => {
    db = await createTestDatabase();
    // Default rate limit (30 ops per 10 s per connection): the flood is refused, not served.
    const env = { DATABASE_URL: db.url, REDIS_URL: redisUrl(), PUBSUB_MODE: 'perconv', LOG_LEVEL: 'info' };
    gateway = await startGatewayProcess(env);
    worker = await startWorkerProcess({ ...env, METRICS_PORT: '0' });
  });
  afterAll(async () => {
    await Promise.all([gateway?.stop(), worker?.stop()]);
    await db?.drop();
  });

  /** One connection sending ops as fast as its socket takes them. */
  async function floodOps(port: number, userId: string, roomId: string, until: () => boolean) {
    const client = await TestClient.connect(port);
    await client.login(userId, roomId);
    let sent = 0;
    while (until()) {
      // Bursts, paced by the client's own send buffer (and a yield, so the timer that ends the flood can run).
      for (let burst = 0; burst < 1000 && client.ws.bufferedAmount < 256 * 1024; burst++) {
        client.sendRaw(JSON.stringify({ op: sent % 2 ? 'send' : 'join', room_id: roomId, content: { text: `flood ${sent}` } }));
        sent++;
      }
      await sleep(1);
    }
    // Whatever the gateway still owes it: every frame answered, or the connection closed.
    let closeCode: number | null = null;
    void client.closed.then(({ code }) => (closeCode = code));
    const deadline = Date.now() + 20_000;
    while (client.frames.length < sent && closeCode === null && Date.now() < deadline) await sleep(50);
    client.close();
    return { sent, replies: client.frames.length, rateLimited: client.frames.filter((f) => f.error === 'rate_limited').length, closeCode };
  }

  /** Opens connections as fast as it can, each spending its fresh token bucket on membership lookups, then closing. */
  async function floodConnections(port: number, until: () => boolean) {
    let opened = 0;
    let failed = 0;
    const worker = async () => {
      while (until()) {
        try {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
          await new Promise<void>((resolve, reject) => {
            ws.once('open', resolve);
            ws.once('error', reject);
          });
          opened++;
          ws.send(JSON.stringify({ op: 'auth', token: randomUUID() }));
          for (let i = 0; i < 40; i++) ws.send(JSON.stringify({ op: 'join', room_id: randomUUID() }));
          await sleep(20);
          ws.terminate();
        } catch {
          failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    return { opened, failed };
  }

  /** Opens connections and leaves them open, never authenticating. */
  async function hoardConnections(port: number, count: number) {
    const sockets: WebSocket[] = [];
    for (let i = 0; i < count; i += 50) {
      sockets.push(
        ...(await Promise.all(
          Array.from(
            { length: Math.min(50, count - i) },
            () =>
              new Promise<WebSocket>((resolve, reject) => {
                const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
                ws.once('open', () => resolve(ws));
                ws.once('error', reject);
              }),
          ),
        )),
      );
    }
    return sockets;
  }

  it('delivers every message of a normal client with bounded latency while one client floods ops and another floods connections', async () => {
    const [alice, bob, carol, flooder] = [newUser(), newUser(), newUser(), newUser()];
    const room = await createRoom(db.sql, [alice, bob, carol]);
    const floodRoom = await createRoom(db.sql, [flooder]);
    const hoard = await hoardConnections(gateway.port, 500);

    const chatters = await startChatters(gateway.port, room, [alice, bob, carol], 500);
    let flooding = true;
    const until = () => flooding;
    const ops = floodOps(gateway.port, flooder, floodRoom, until);
    const connections = floodConnections(gateway.port, until);
    await sleep(8000);
    flooding = false;
    const [opsResult, connectionResult] = await Promise.all([ops, connections]);
    const chat = await chatters.stop();
    for (const ws of hoard) ws.terminate();

    console.log(
      `abuse: ops flood ${opsResult.sent} frames, ${opsResult.replies} replies (${opsResult.rateLimited} rate limited), closed by the gateway: ${opsResult.closeCode}; ` +
        `connection flood ${connectionResult.opened} connections (${connectionResult.failed} failed); ${hoard.length} idle unauthenticated connections; ` +
        `chat ${chat.sent} sent, ${chat.missing.length} missing, latency p50 ${chat.latencyMs.p50} ms p99 ${chat.latencyMs.p99} ms max ${chat.latencyMs.max} ms`,
    );
    expect(opsResult.sent).toBeGreaterThan(1000);
    expect(opsResult.rateLimited).toBeGreaterThan(opsResult.sent * 0.9);
    expect(connectionResult.opened).toBeGreaterThan(100);
    expect(chat.failures).toEqual([]);
    expect(chat.sent).toBeGreaterThanOrEqual(3 * 10);
    expect(chat.missing).toEqual([]);
    expect(chat.latencyMs.max).toBeLessThan(5000);
    // The flooded room got nothing beyond what the token bucket let through (30 per 10 s).
    const [flooded] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM arcyou_chat_messages WHERE room_id = ${floodRoom}`;
    expect(flooded!.n).toBeLessThanOrEqual(30 + 10);
    expect(gateway.alive()).toBe(true);
    expect(logProblems(gateway.output())).toEqual({ crashes: [], errors: [] });
  }, 60_000);
});
