// The client SDK through the faults a real application meets: two gateway processes that
// are killed and restarted, Redis restarted, connections cut by the network (a TCP proxy in
// front of each gateway). A writer and a reader, each an SDK client that picks a live
// gateway per connection attempt: the reader sees every message of the room exactly once,
// in order, and every send — many made while offline — is stored exactly once.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChatClient, type ChatClient, type Message, type SocketConstructor } from '../client';
import { startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { createRoom, newUser } from './support/fixtures';
import { startPrivateRedis, type PrivateService } from './support/private-services';
import { createTestDatabase, type TestDatabase } from './support/services';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';

interface GatewaySlot {
  proc: RunningProcess & { port: number };
  proxy: TcpProxy;
  up: boolean;
}

describe('client SDK under faults', () => {
  let db: TestDatabase;
  let redis: PrivateService;
  let worker: RunningProcess;
  const slots: GatewaySlot[] = [];
  const clients: ChatClient[] = [];
  let env: Record<string, string>;

  const startSlot = async (): Promise<GatewaySlot> => {
    const proc = await startGatewayProcess(env);
    return { proc, proxy: await startTcpProxy(proc.port), up: true };
  };
  const live = () => {
    const up = slots.filter((s) => s.up);
    return up[Math.floor(Math.random() * up.length)] ?? slots[0]!;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = await startPrivateRedis();
    env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      PUBSUB_MODE: 'perconv',
      LOG_LEVEL: 'info',
      BACKFILL_LIMIT: '10',
      RL_BUCKET_CAPACITY: '100000',
      RL_REFILL_MS: '1000',
      POLL_INTERVAL_MS: '200',
      BACKOFF_BASE_MS: '200',
      BACKOFF_CAP_MS: '1000',
      MAX_ATTEMPTS: '50',
    };
    worker = await startWorkerProcess(env);
    slots.push(await startSlot(), await startSlot());
  });
  afterAll(async () => {
    for (const chat of clients) chat.close();
    for (const slot of slots) {
      await slot.proxy.close();
      slot.proc.child.kill('SIGKILL');
    }
    worker?.child.kill('SIGKILL');
    await redis?.destroy();
    await db?.drop();
  });

  it('delivers every message once and in order, and stores every send once, through gateway kills, a Redis restart and cut connections', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(db.sql, [alice, bob]);
    const connect = (token: string) => {
      const chat = createChatClient({
        url: () => `ws://127.0.0.1:${live().proxy.port}/`,
        apiUrl: () => `http://127.0.0.1:${live().proc.port}`,
        token,
        WebSocket: WebSocket as unknown as SocketConstructor,
        reconnect: { baseMs: 100, maxMs: 800 },
      });
      clients.push(chat);
      return chat;
    };
    const writer = connect(alice).room(roomId);
    const reader = connect(bob).room(roomId);
    const got: Message[] = [];
    reader.on('message', (m) => got.push(m));

    let sending = true;
    const sends: Array<Promise<{ id: number }>> = [];
    const sendLoop = (async () => {
      for (let i = 0; sending; i++) {
        sends.push(writer.send({ text: `m${i}` }));
        if (i % 3 === 0) sends.push(reader.send({ text: `r${i}` }));
        await sleep(15);
      }
    })();

    const faults: string[] = [];
    for (let round = 0; round < 6; round++) {
      await sleep(700);
      const slot = slots[round % 2]!;
      if (round % 3 === 0) {
        slot.up = false;
        slot.proc.child.kill('SIGKILL');
        await slot.proc.exited;
        await slot.proxy.close();
        await sleep(300);
        const fresh = await startSlot();
        Object.assign(slot, fresh);
        faults.push('gateway kill');
      } else if (round % 3 === 1) {
        await redis.restart(500);
        faults.push('redis restart');
      } else {
        slot.proxy.cut();
        faults.push('network cut');
      }
    }
    await sleep(500);
    sending = false;
    await sendLoop;
    const stored = await Promise.all(sends);

    const rows = await db.sql<{ id: number; seq: number }[]>`SELECT id, seq FROM arcyou_chat_messages WHERE room_id = ${roomId} ORDER BY seq`;
    expect(rows.length, 'every send stored exactly once').toBe(sends.length);
    expect(new Set(stored.map((s) => s.id)).size).toBe(sends.length);
    const deadline = Date.now() + 30_000;
    while (got.length < rows.length && Date.now() < deadline) await sleep(50);
    await sleep(300);
    expect(
      got.map((m) => m.seq),
      `after ${faults.join(', ')}`,
    ).toEqual(rows.map((r) => r.seq));
  }, 90_000);
});
