// The client's connection state machine against a scripted fake server (no network): backoff
// with jitter, token refresh after a refusal or an expiry close, re-join with after_seq, sends
// re-sent with the same temp_id, close() clearing every timer.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay } from './backoff';
import { createChatClient, type SocketLike } from './client';

type Frame = Record<string, any>;

/** A socket whose server side is the test: it sees what the client sent and answers. */
class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Frame[] = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code });
  }
  // ---- the server's side ----
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  reply(op: string, body: Frame) {
    const request = [...this.sent].reverse().find((f) => f.op === op)!;
    this.onmessage?.({ data: JSON.stringify({ op, request_id: request.request_id, ...body }) });
  }
  push(frame: Frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1006) {
    this.close(code);
  }
}

const last = () => FakeSocket.all.at(-1)!;
const flush = () => vi.advanceTimersByTimeAsync(0);
const message = (roomId: string, seq: number, source = 'live') => ({
  op: 'event',
  type: 'message.created',
  roomId,
  source,
  message: { id: 100 + seq, seq, user_id: 'u', type: 'text', content: {}, created_at: '' },
});

describe('chat client state machine', () => {
  beforeEach(() => {
    FakeSocket.all = [];
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('spreads reconnect delays (full jitter, doubling to the cap)', () => {
    const delays = Array.from({ length: 1000 }, () => backoffDelay(3, { baseMs: 100, maxMs: 10_000 }));
    expect(Math.max(...delays)).toBeLessThanOrEqual(800);
    expect(Math.min(...delays)).toBeLessThan(100);
    expect(new Set(delays.map((d) => Math.min(7, Math.floor(d / 100)))).size).toBe(8); // spread over the whole range
    expect(backoffDelay(30, { baseMs: 100, maxMs: 5000 }, () => 1)).toBe(5000);
  });

  it('re-authenticates with a fresh token after a refusal and after an expiry close, re-joins after the last seq, and re-sends with the same temp_id', async () => {
    let tokens = 0;
    const chat = createChatClient({ url: 'ws://gw/', token: () => `t${++tokens}`, WebSocket: FakeSocket, reconnect: { baseMs: 10, maxMs: 10 } });
    const room = chat.room('r1');
    const got: number[] = [];
    room.on('message', (m) => got.push(m.seq));
    await flush();
    last().open();
    expect(last().sent[0]).toMatchObject({ op: 'auth', token: 't1' });
    last().reply('auth', { success: false, error: 'Unauthorized' });
    await vi.advanceTimersByTimeAsync(20);
    last().open();
    expect(last().sent[0]).toMatchObject({ op: 'auth', token: 't2' });
    last().reply('auth', { success: true, userId: 'u' });
    expect(chat.state).toBe('connected');
    expect(chat.userId).toBe('u');
    expect(last().sent[1]).toMatchObject({ op: 'join', room_id: 'r1' });
    expect(last().sent[1]).not.toHaveProperty('after_seq');
    last().reply('join', { success: true, room_id: 'r1', after_seq: 0, last_seq: 2, has_more: false });
    last().push(message('r1', 1, 'backfill'));
    last().push(message('r1', 2, 'backfill'));
    const sending = room.send({ text: 'x' });
    const send = last().sent.find((f) => f.op === 'send')!;
    last().drop(4003); // the token expired before the reply came
    await vi.advanceTimersByTimeAsync(20);
    last().open();
    expect(last().sent[0]).toMatchObject({ op: 'auth', token: 't3' });
    last().reply('auth', { success: true, userId: 'u' });
    expect(last().sent[1]).toMatchObject({ op: 'join', room_id: 'r1', after_seq: 2 });
    last().reply('join', { success: true, room_id: 'r1', after_seq: 2, last_seq: 3, has_more: false });
    const again = last().sent.find((f) => f.op === 'send')!;
    expect(again.temp_id).toBe(send.temp_id);
    last().reply('send', { success: true, message_id: 103, seq: 3, temp_id: again.temp_id });
    await expect(sending).resolves.toEqual({ id: 103, seq: 3, tempId: send.temp_id });
    last().push(message('r1', 2)); // a duplicate from the live stream
    last().push(message('r1', 3));
    expect(got).toEqual([1, 2, 3]);
    chat.close();
  });

  it('ignores frames of a connection that has been replaced', async () => {
    const chat = createChatClient({ url: 'ws://gw/', token: 'u', WebSocket: FakeSocket, reconnect: { baseMs: 10, maxMs: 10 } });
    const room = chat.room('r1');
    const got: number[] = [];
    room.on('message', (m) => got.push(m.seq));
    await flush();
    const first = last();
    first.open();
    first.reply('auth', { success: true });
    first.reply('join', { success: true, after_seq: 0, last_seq: 0, has_more: false });
    first.drop();
    await vi.advanceTimersByTimeAsync(20);
    last().open();
    last().reply('auth', { success: true });
    first.push(message('r1', 1)); // late, from the old socket
    last().reply('join', { success: true, after_seq: 0, last_seq: 1, has_more: false });
    expect(got).toEqual([]);
    chat.close();
  });

  it('gives up a connection that never opens and tries again', async () => {
    const chat = createChatClient({ url: 'ws://gw/', token: 'u', WebSocket: FakeSocket, connectTimeoutMs: 1000, reconnect: { baseMs: 10, maxMs: 10 } });
    await flush();
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000 + 20);
    expect(FakeSocket.all).toHaveLength(2);
    expect(FakeSocket.all[0]!.readyState).toBe(3);
    last().open();
    last().reply('auth', { success: true });
    await vi.advanceTimersByTimeAsync(5000);
    expect(FakeSocket.all).toHaveLength(2);
    expect(chat.state).toBe('connected');
    chat.close();
  });

  it('close() clears every timer and rejects what is queued, also while reconnecting', async () => {
    const chat = createChatClient({ url: 'ws://gw/', token: 'u', WebSocket: FakeSocket, reconnect: { baseMs: 1000, maxMs: 1000 } });
    const pending = chat.room('r1').send({ text: 'never' });
    await flush();
    last().drop();
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    chat.close();
    await expect(pending).rejects.toMatchObject({ code: 'closed' });
    expect(vi.getTimerCount()).toBe(0);
    expect(chat.state).toBe('closed');
    await vi.advanceTimersByTimeAsync(5000);
    expect(FakeSocket.all).toHaveLength(1);
  });
});
