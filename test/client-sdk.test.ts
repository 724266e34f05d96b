// The client SDK (client/) against a real gateway and worker, over real sockets: in-order
// delivery with no gap and no duplicate across connection cuts and offline stretches,
// a has_more backfill completed from history, sends queued offline and retried once
// stored, token refresh, room events, and close() leaving nothing behind. The connection
// goes through a TCP proxy the test cuts and refuses at will.
import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChatClient, type ChatClient, type ChatRoom, type ConnectionState, type Message, type SocketConstructor } from '../client';
import { until } from './support/bus-faults';
import { createRoom, newUser } from './support/fixtures';
import { startSystem, type TestSystem } from './support/system';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';

describe('client SDK', () => {
  let system: TestSystem;
  let proxy: TcpProxy;
  const clients: ChatClient[] = [];
  const connect = (token: string | (() => string | Promise<string>), options: { direct?: boolean; fetch?: typeof fetch } = {}) => {
    const port = options.direct ? system.port : proxy.port;
    const chat = createChatClient({
      url: `ws://127.0.0.1:${port}/`,
      apiUrl: `http://127.0.0.1:${system.port}`,
      token,
      WebSocket: WebSocket as unknown as SocketConstructor,
      reconnect: { baseMs: 50, maxMs: 300 },
      fetch: options.fetch,
    });
    clients.push(chat);
    return chat;
  };
  const record = (room: ChatRoom) => {
    const got: Message[] = [];
    room.on('message', (m) => got.push(m));
    return got;
  };
  const seqs = (got: Message[]) => got.map((m) => m.seq);

  beforeAll(async () => {
    system = await startSystem({ BACKFILL_LIMIT: '5', RL_BUCKET_CAPACITY: '100000', RL_REFILL_MS: '1000', POLL_INTERVAL_MS: '100' });
    proxy = await startTcpProxy(system.port);
  });
  afterAll(async () => {
    for (const chat of clients) chat.close();
    await proxy?.close();
    await system?.stop();
  });

  it('sends and receives in seq order; send resolves with the stored id and seq', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = connect(alice).room(roomId);
    const b = connect(bob).room(roomId);
    const atBob = record(b);
    const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => a.send({ text: `m${i}` })));
    expect(sent.map((s) => s.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await until('bob has all 20', () => atBob.length === 20, 15_000);
    expect(atBob.map((m) => m.id)).toEqual(sent.map((s) => s.id));
    expect(atBob.map((m) => m.content.text)).toEqual(sent.map((_, i) => `m${i}`));
  });

  it('keeps every message once and in order through connection cuts and offline stretches, and stores each offline send once', async () => {
    const [alice, bob] = [newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const writer = connect(alice, { direct: true }).room(roomId);
    let historyReads = 0;
    const bobClient = connect(bob, { fetch: (input, init) => (historyReads++, fetch(input, init)) });
    const reader = bobClient.room(roomId);
    const atBob = record(reader);
    const states: ConnectionState[] = [];
    bobClient.on('state', (s) => states.push(s));
    await until('bob connected', () => bobClient.state === 'connected', 15_000);

    const fromAlice: Array<Promise<unknown>> = [];
    const fromBob: Array<Promise<{ id: number }>> = [];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 10; i++) fromAlice.push(writer.send({ text: `a${round}.${i}` }));
      fromBob.push(reader.send({ text: `b${round}` }));
      if (round % 2 === 0) {
        proxy.cut(); // connections drop mid-stream, sends in flight
      } else {
        // Offline long enough to miss more than a backfill (BACKFILL_LIMIT 5): history fills the rest.
        await proxy.setMode('refuse');
        proxy.cut();
        for (let i = 0; i < 12; i++) fromAlice.push(writer.send({ text: `offline${round}.${i}` }));
        fromBob.push(reader.send({ text: `queued${round}` }));
        await sleep(300);
        await proxy.setMode('forward');
      }
      await sleep(100);
    }
    await Promise.all(fromAlice);
    const bobs = await Promise.all(fromBob);
    const stored = await system.sql<{ id: number; seq: number }[]>`SELECT id, seq FROM arcyou_chat_messages WHERE room_id = ${roomId} ORDER BY seq`;
    await until('bob has every message', () => atBob.length >= stored.length, 15_000);
    await sleep(200);
    expect(seqs(atBob)).toEqual(stored.map((r) => r.seq));
    // Each of bob's sends stored exactly once, although some were sent twice (same temp_id).
    expect(stored.length).toBe(fromAlice.length + fromBob.length);
    expect(new Set(bobs.map((s) => s.id)).size).toBe(bobs.length);
    expect(states.filter((s) => s === 'disconnected').length).toBeGreaterThanOrEqual(3);
    expect(historyReads).toBeGreaterThan(0); // the backfills stopped at 5: the rest came from history
  }, 60_000);

  it('sends again, with the same temp_id, a send whose reply was lost with its connection: stored once', async () => {
    const [bob] = [newUser()];
    const roomId = await createRoom(system.sql, [bob]);
    const chat = connect(bob);
    const room = chat.room(roomId);
    await room.send({ text: 'warm-up' });
    // The gateway stores the next send, but its reply never reaches the client.
    proxy.holdOn('"op":"send"');
    const sending = room.send({ text: 'once only' });
    await until('the reply is held', () => proxy.holding(), 15_000);
    proxy.cut();
    proxy.release();
    const sent = await sending;
    const rows = await system.sql<{ id: number }[]>`SELECT id FROM arcyou_chat_messages WHERE room_id = ${roomId} AND content->>'text' = 'once only'`;
    expect(rows.map((r) => r.id)).toEqual([sent.id]);
  });

  it('asks the token callback again after the token was refused', async () => {
    const [alice] = [newUser()];
    const roomId = await createRoom(system.sql, [alice]);
    const tokens = ['not-a-token', alice];
    let calls = 0;
    const chat = connect(() => tokens[Math.min(calls++, tokens.length - 1)]!);
    const errors: string[] = [];
    chat.on('error', (err) => errors.push(err.code));
    const room = chat.room(roomId);
    const sent = await room.send({ text: 'after a refresh' });
    expect(sent.seq).toBe(1);
    expect(errors).toContain('Unauthorized');
    expect(calls).toBe(2);
  });

  it('passes on edits, deletes, typing and read receipts, and rejects a send with the server error', async () => {
    const [alice, bob, mallory] = [newUser(), newUser(), newUser()];
    const roomId = await createRoom(system.sql, [alice, bob]);
    const a = connect(alice).room(roomId);
    const b = connect(bob).room(roomId);
    const events: string[] = [];
    b.on('update', (m) => events.push(`update ${m.seq} ${String(m.content.text)}`));
    b.on('delete', (d) => events.push(`delete ${d.message_seq}`));
    b.on('typing', (t) => events.push(`typing ${t.user_id === alice}`));
    b.on('read', (r) => events.push(`read ${r.user_id === alice}`));
    const atBob = record(b);
    const first = await a.send({ text: 'hello' });
    await until('bob got it', () => atBob.length === 1, 15_000);
    await a.edit(first.id, { text: 'hello!' });
    await a.typing();
    await a.ack(first.id);
    await a.delete(first.id);
    await until('bob got four events', () => events.length === 4, 15_000);
    // Typing and receipts have no place among the messages; the edit comes before the delete.
    expect([...events].sort()).toEqual(['delete 1', 'read true', 'typing true', 'update 1 hello!']);
    expect(events.indexOf('update 1 hello!')).toBeLessThan(events.indexOf('delete 1'));

    const outsider = connect(mallory).room(roomId);
    const refused = new Promise((resolve) => outsider.on('error', (err) => resolve(err.code)));
    await expect(outsider.send({ text: 'x' })).rejects.toMatchObject({ code: 'Forbidden: not a member' });
    expect(await refused).toBe('Forbidden: not a member');
    await expect(a.send({ text: 'x' }, { replyTo: 999_999_999 })).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('leaves no timer or socket behind after close(), even while reconnecting', async () => {
    // Only what the SDK creates is counted: the gateway and worker share this process and
    // keep timers of their own. Resources made while calling into the client, or in
    // callbacks of what it made, carry the `sdk` store.
    const sdk = new AsyncLocalStorage<true>();
    const live = new Map<number, string>();
    const hook = createHook({
      init(id, type) {
        if (sdk.getStore() && (type === 'Timeout' || type.startsWith('TCP'))) live.set(id, type);
      },
      destroy(id) {
        live.delete(id);
      },
    }).enable();
    try {
      await proxy.setMode('refuse');
      const chat = sdk.run(true, () => connect(newUser()));
      const pending = sdk.run(true, () => chat.room(newUser()).send({ text: 'never' }));
      await sleep(400); // reconnect attempts meanwhile
      expect([...live.values()]).toContain('Timeout'); // the hook sees the SDK's timers
      sdk.run(true, () => chat.close());
      await expect(pending).rejects.toMatchObject({ code: 'closed' });
      await proxy.setMode('forward');
      await sleep(50); // destroy hooks run soon after, not inside, clearTimeout and close
      expect([...live.values()]).toEqual([]);
      expect(chat.state).toBe('closed');
    } finally {
      hook.disable();
    }
  });
});
