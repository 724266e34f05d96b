// The chat client: one WebSocket that keeps itself connected (backoff with jitter,
// re-auth with a fresh token when the old one was refused or expired), every room joined
// again after a reconnect and resumed after its last delivered seq (room-stream.ts), and
// sends that survive reconnects: queued while offline (bounded) and retried with the same
// temp_id, so the server stores each once. Browser-first: the global WebSocket and fetch;
// Node passes `WebSocket` from the `ws` package.
import { backoffDelay } from './backoff';
import { Emitter } from './emitter';
import { RoomStream, type StreamFrame } from './room-stream';
import { ChatError, type ClientEvents, type ConnectionState, type HistoryPage, type Message, type MyRoom, type RoomEvents, type SentMessage } from './types';

/** The part of the WebSocket API the client uses (browsers' WebSocket and `ws` both have it). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type SocketConstructor = new (url: string) => SocketLike;

export interface ChatClientOptions {
  /** The gateway's WebSocket URL, e.g. ws://localhost:8080/ — or a function asked before each connection attempt (several gateways). */
  url: string | (() => string);
  /** A token, or a function that returns one: called again after the server refused or expired the last. */
  token: string | (() => string | Promise<string>);
  /** The WebSocket class (default: globalThis.WebSocket). In Node: `import WebSocket from 'ws'`. */
  WebSocket?: SocketConstructor;
  /** For history reads (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** The HTTP API's base (default: the gateway's URL with http(s) instead of ws(s)), or a function asked per request. */
  apiUrl?: string | (() => string);
  /** Reconnect delays: the first up to baseMs, doubling up to maxMs, each a random fraction of that. */
  reconnect?: { baseMs?: number; maxMs?: number };
  /** Sends waiting (offline, or for their reply) at most; past it send() rejects with `queue_full`. */
  maxQueuedSends?: number;
  /** How long a request other than a send waits for its reply on a live connection. */
  requestTimeoutMs?: number;
  /** A connection not authenticated this long after it was started is given up and tried again. */
  connectTimeoutMs?: number;
}

export interface SendOptions {
  type?: 'text' | 'image' | 'file';
  replyTo?: number;
  /** Your own idempotency key (default: a random UUID). */
  tempId?: string;
}

interface PendingSend {
  room: ChatRoom;
  body: Record<string, unknown>;
  tempId: string;
  resolve(sent: SentMessage): void;
  reject(err: Error): void;
  /** Sent on this connection and waiting for its reply. */
  sentOn: Connection | null;
  retries: number;
}

interface Connection {
  socket: SocketLike;
  authed: boolean;
  replies: Map<string, (frame: StreamFrame | null) => void>;
}

/** Errors a send is retried after (with backoff), on the same temp_id. */
const RETRIED_SEND_ERRORS = new Set(['unavailable', 'rate_limited']);
const MAX_SEND_RETRIES = 8;
const OPEN = 1;

export class ChatClient extends Emitter<ClientEvents> {
  state: ConnectionState = 'connecting';
  /** The user the server authenticated (from the last auth reply); null until then. */
  userId: string | null = null;
  private readonly rooms = new Map<string, ChatRoom>();
  private readonly sends: PendingSend[] = [];
  private conn: Connection | null = null;
  private token: string | null = null;
  private refreshToken = true;
  private attempt = 0;
  private nextRequest = 0;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;
  private readonly Socket: SocketConstructor;
  private readonly fetchImpl: typeof fetch;
  private readonly apiBase: () => string;

  constructor(private readonly options: ChatClientOptions) {
    super();
    const Socket = options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
    if (!Socket) throw new Error('no WebSocket: pass options.WebSocket (in Node: the ws package)');
    this.Socket = Socket;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    const { apiUrl, url } = options;
    if (!apiUrl && typeof url !== 'string') throw new Error('with url as a function, give apiUrl too');
    const trim = (base: string) => base.replace(/\/+$/, '');
    this.apiBase = typeof apiUrl === 'function' ? () => trim(apiUrl()) : () => trim(apiUrl ?? (url as string).replace(/^ws/, 'http'));
    void this.connect();
  }

  /**
   * The room's handle (the same one for the same id); it is joined whenever the client is
   * connected. The first join starts after `afterSeq` if given, else after the user's read position.
   */
  room(roomId: string, options: { afterSeq?: number } = {}): ChatRoom {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = new ChatRoom(this, roomId);
      room.startAfter = options.afterSeq;
      this.rooms.set(roomId, room);
      if (this.conn?.authed) this.join(this.conn, room);
    }
    return room;
  }

  /** Closes the connection and stops everything: no timer or socket is left; queued sends reject with `closed`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const conn = this.conn;
    this.conn = null;
    if (conn) this.dropConnection(conn);
    conn?.socket.close(1000, 'closed by the client');
    for (const send of this.sends.splice(0)) send.reject(new ChatError('closed'));
    for (const room of this.rooms.values()) room.stream.left();
    this.setState('closed');
    this.clear();
    for (const room of this.rooms.values()) room.clear();
  }

  // ---- connection ----

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /** A timer that close() clears; returns its cancel. */
  private later(ms: number, fn: () => void): () => void {
    if (this.closed) return () => {};
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    this.setState('connecting');
    let token: string;
    try {
      token = await this.currentToken();
    } catch (err) {
      this.emit('error', new ChatError('Unauthorized', `the token callback failed: ${(err as Error).message}`));
      return this.reconnectLater();
    }
    if (this.closed) return;
    let socket: SocketLike;
    try {
      socket = new this.Socket(typeof this.options.url === 'string' ? this.options.url : this.options.url());
    } catch (err) {
      this.emit('error', new ChatError('unavailable', (err as Error).message));
      return this.reconnectLater();
    }
    const conn: Connection = { socket, authed: false, replies: new Map() };
    this.conn = conn;
    socket.onopen = () => {
      this.request(conn, { op: 'auth', token }, (reply) => {
        if (!reply) return;
        if (reply.success) {
          if (typeof reply.userId === 'string') this.userId = reply.userId;
          return this.authenticated(conn);
        }
        this.refreshToken = true;
        this.emit('error', new ChatError(String(reply.error), reply.detail));
        socket.close(4000, 'auth refused');
      });
    };
    socket.onmessage = (event) => this.onFrame(conn, event.data);
    socket.onerror = () => {}; // a close follows
    const ended = (code: number) => {
      if (this.conn !== conn) return;
      this.conn = null;
      cancelTimeout();
      if (code === 4003 || code === 4001) this.refreshToken = true; // expired, or not authenticated in time
      this.dropConnection(conn);
      this.reconnectLater();
    };
    socket.onclose = (event) => ended(event.code);
    // A handshake into a black hole never ends by itself (Node's ws has no timeout).
    const cancelTimeout = this.later(this.options.connectTimeoutMs ?? 10_000, () => {
      if (conn.authed) return;
      try {
        socket.close(4000, 'connect timeout');
      } catch {
        // closing a socket still connecting may throw: it is given up all the same
      }
      ended(1006);
    });
  }

  private async currentToken(): Promise<string> {
    const { token } = this.options;
    if (typeof token === 'string') return token;
    if (this.token === null || this.refreshToken) {
      this.token = await token();
      this.refreshToken = false;
    }
    return this.token;
  }

  private reconnectLater(): void {
    if (this.closed) return;
    this.setState('disconnected');
    const { baseMs = 500, maxMs = 15_000 } = this.options.reconnect ?? {};
    this.later(backoffDelay(this.attempt++, { baseMs, maxMs }), () => void this.connect());
  }

  private authenticated(conn: Connection): void {
    conn.authed = true;
    this.attempt = 0;
    this.setState('connected');
    for (const room of this.rooms.values()) this.join(conn, room);
  }

  /** Everything that waited on the connection: replies fail, sends go back to the queue, rooms stop. */
  private dropConnection(conn: Connection): void {
    for (const reply of conn.replies.values()) reply(null);
    conn.replies.clear();
    for (const send of this.sends) if (send.sentOn === conn) send.sentOn = null;
    for (const room of this.rooms.values()) room.disconnected();
  }

  private onFrame(conn: Connection, data: unknown): void {
    let frame: StreamFrame;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data));
    } catch {
      return;
    }
    if (frame.op === 'event') {
      if (this.conn === conn) this.rooms.get(String(frame.roomId))?.onEvent(conn, frame);
      return;
    }
    const id = frame.request_id;
    const reply = typeof id === 'string' ? conn.replies.get(id) : undefined;
    if (reply) {
      conn.replies.delete(id);
      reply(frame);
    }
  }

  /** Sends a request on `conn`; `onReply` gets the reply, or null if the connection ends first. */
  private request(conn: Connection, body: Record<string, unknown>, onReply: (reply: StreamFrame | null) => void): boolean {
    if (conn.socket.readyState !== OPEN || this.conn !== conn) return false;
    const id = `c${this.nextRequest++}`;
    conn.replies.set(id, onReply);
    conn.socket.send(JSON.stringify({ ...body, request_id: id }));
    return true;
  }

  /** A request on the live connection: resolves with its reply, or rejects (its error, `unavailable` if offline or no reply in time). */
  call(body: Record<string, unknown>): Promise<StreamFrame> {
    return new Promise((resolve, reject) => {
      const conn = this.conn;
      if (!conn?.authed) return reject(new ChatError('unavailable', 'not connected'));
      let done = false;
      let cancelTimeout = () => {};
      const finish = (reply: StreamFrame | null) => {
        if (done) return;
        done = true;
        cancelTimeout();
        if (!reply) reject(new ChatError('unavailable', 'no reply'));
        else if (reply.success === false) reject(new ChatError(String(reply.error), reply.detail));
        else resolve(reply);
      };
      if (!this.request(conn, body, finish)) return finish(null);
      cancelTimeout = this.later(this.options.requestTimeoutMs ?? 10_000, () => finish(null));
    });
  }

  // ---- rooms ----

  join(conn: Connection, room: ChatRoom): void {
    if (!room.wanted || room.joining === conn) return;
    const afterSeq = room.stream.delivered > 0 ? room.stream.delivered : room.startAfter;
    const body: Record<string, unknown> = { op: 'join', room_id: room.id };
    if (afterSeq !== undefined) body.after_seq = afterSeq;
    const sent = this.request(conn, body, (reply) => {
      if (room.joining === conn) room.joining = null;
      if (!reply || this.conn !== conn) return;
      if (!reply.success) return room.refused(new ChatError(String(reply.error), reply.detail));
      room.joinedOn(conn, reply as { after_seq?: number; last_seq: number; has_more: boolean; membership_id?: number });
      this.flushSends(room);
    });
    if (sent) room.joining = conn;
  }

  /** The user's rooms with unread counts and last message, most recent activity first. */
  async myRooms(): Promise<MyRoom[]> {
    return ((await this.api('/v1/me/rooms')) as { rooms: MyRoom[] }).rooms;
  }

  /** GET on the HTTP API with this client's token; rejects with the server's error. */
  async api(path: string): Promise<unknown> {
    const token = await this.currentToken();
    const res = await this.fetchImpl(`${this.apiBase()}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json().catch(() => ({}))) as { error?: string; detail?: string };
    if (!res.ok) {
      if (res.status === 401) this.refreshToken = true;
      throw new ChatError(body.error ?? `HTTP ${res.status}`, body.detail);
    }
    return body;
  }

  // ---- sends ----

  enqueueSend(room: ChatRoom, content: Record<string, unknown>, options: SendOptions): Promise<SentMessage> {
    if (this.closed) return Promise.reject(new ChatError('closed'));
    if (!room.wanted) return Promise.reject(new ChatError('Forbidden: not joined', 'the room was left or its join refused: room.join() joins it again'));
    if (this.sends.length >= (this.options.maxQueuedSends ?? 1000)) return Promise.reject(new ChatError('queue_full', 'too many sends waiting'));
    const tempId = options.tempId ?? globalThis.crypto.randomUUID();
    const body: Record<string, unknown> = { op: 'send', room_id: room.id, content, temp_id: tempId };
    if (options.type) body.type = options.type;
    if (options.replyTo !== undefined) body.reply_to_message_id = options.replyTo;
    return new Promise((resolve, reject) => {
      this.sends.push({ room, body, tempId, resolve, reject, sentOn: null, retries: 0 });
      this.flushSends(room);
    });
  }

  /** Sends, in order, every queued send of the room not yet sent on the live connection. */
  private flushSends(room: ChatRoom): void {
    const conn = this.conn;
    if (!conn || room.joinedConn !== conn) return;
    for (const send of this.sends) {
      if (send.room !== room || send.sentOn === conn) continue;
      send.sentOn = conn;
      const sent = this.request(conn, send.body, (reply) => this.sendReplied(send, conn, reply));
      if (!sent) send.sentOn = null;
    }
  }

  private sendReplied(send: PendingSend, conn: Connection, reply: StreamFrame | null): void {
    if (!reply) return; // the connection ended: sent again, same temp_id, after the next join
    if (reply.success) {
      this.removeSend(send);
      return send.resolve({ id: Number(reply.message_id), seq: Number(reply.seq), tempId: send.tempId });
    }
    const error = String(reply.error);
    if (RETRIED_SEND_ERRORS.has(error) && send.retries < MAX_SEND_RETRIES) {
      send.retries++;
      send.sentOn = conn; // not again on this connection until the delay is over
      this.later(backoffDelay(send.retries, { baseMs: 250, maxMs: 5000 }), () => {
        if (send.sentOn === conn) send.sentOn = null;
        this.flushSends(send.room);
      });
      return;
    }
    this.removeSend(send);
    send.reject(new ChatError(error, reply.detail));
  }

  private removeSend(send: PendingSend): void {
    const i = this.sends.indexOf(send);
    if (i >= 0) this.sends.splice(i, 1);
  }

  /** Rejects the room's queued sends (its membership ended). */
  failSends(room: ChatRoom, err: ChatError): void {
    for (const send of [...this.sends]) {
      if (send.room !== room) continue;
      this.removeSend(send);
      send.reject(err);
    }
  }

  rejoin(room: ChatRoom): void {
    if (this.conn?.authed) this.join(this.conn, room);
  }
}

/** One room: its events, in order, and what a member does in it. */
export class ChatRoom extends Emitter<RoomEvents> {
  /** Joined whenever connected; false after a removal or a refused join, until join(). */
  wanted = true;
  /** Where the first join starts (undefined: after the read position). */
  startAfter: number | undefined;
  joining: Connection | null = null;
  joinedConn: Connection | null = null;
  private token = 0;
  private membershipId: number | null = null;
  readonly stream: RoomStream;

  constructor(
    private readonly client: ChatClient,
    readonly id: string,
  ) {
    super();
    this.stream = new RoomStream({
      deliver: (message, source) => this.emit('message', { ...message, source }),
      event: (frame) => this.dispatch(frame),
      readHistory: (afterSeq) => this.history({ afterSeq, limit: 100 }),
      fillFailed: (err) => client.emit('error', err instanceof ChatError ? err : new ChatError('unavailable', (err as Error).message)),
      sleep: (ms) => client.sleep(ms),
    });
  }

  /** The last seq delivered to the application. */
  get lastSeq(): number {
    return this.stream.delivered;
  }

  /** Stores a message; resolves once stored (id, seq), also across reconnects; rejects with the server's error. */
  send(content: Record<string, unknown>, options: SendOptions = {}): Promise<SentMessage> {
    return this.client.enqueueSend(this, content, options);
  }

  /** Marks messages up to `messageId` as read (the server tells the room: member.read). */
  ack(messageId: number): Promise<StreamFrame> {
    return this.client.call({ op: 'ack', room_id: this.id, last_read_message_id: messageId });
  }

  typing(): Promise<StreamFrame> {
    return this.client.call({ op: 'typing', room_id: this.id });
  }

  async edit(messageId: number, content: Record<string, unknown>): Promise<Message> {
    return (await this.client.call({ op: 'edit', room_id: this.id, message_id: messageId, content })).message as Message;
  }

  async delete(messageId: number): Promise<void> {
    await this.client.call({ op: 'delete', room_id: this.id, message_id: messageId });
  }

  /**
   * A page of the room's history, oldest first: after `afterSeq` (read forward), or the
   * last places before `beforeSeq` (or the end). For scrolling back past what was delivered.
   */
  async history(range: { afterSeq?: number; beforeSeq?: number; limit?: number } = {}): Promise<HistoryPage> {
    const query = new URLSearchParams({ limit: String(range.limit ?? 50) });
    if (range.afterSeq !== undefined) query.set('after_seq', String(range.afterSeq));
    if (range.beforeSeq !== undefined) query.set('before_seq', String(range.beforeSeq));
    return (await this.client.api(`/v1/rooms/${encodeURIComponent(this.id)}/messages?${query}`)) as HistoryPage;
  }

  /** Joins again after a removal or a refused join (e.g. once re-added). */
  join(): void {
    this.wanted = true;
    this.client.rejoin(this);
  }

  // ---- from the client ----

  joinedOn(conn: Connection, reply: { after_seq?: number; last_seq: number; has_more: boolean; membership_id?: number }): void {
    this.joinedConn = conn;
    this.membershipId = typeof reply.membership_id === 'number' ? reply.membership_id : null;
    this.token = this.stream.joined(reply);
    this.emit('joined', { last_seq: reply.last_seq, has_more: reply.has_more });
  }

  disconnected(): void {
    this.joinedConn = null;
    this.joining = null;
    this.stream.left();
  }

  refused(err: ChatError): void {
    if (err.code === 'unavailable' || err.code === 'rate_limited') {
      void this.client.sleep(1000).then(() => this.client.rejoin(this));
      return;
    }
    this.wanted = false;
    this.client.failSends(this, err);
    this.emit('error', err);
  }

  onEvent(conn: Connection, frame: StreamFrame): void {
    if (this.joinedConn !== conn) return; // before the join reply, or after a removal
    this.stream.frame(this.token, frame);
  }

  private dispatch(frame: StreamFrame): void {
    const data: StreamFrame = frame.data ?? {};
    switch (frame.type) {
      case 'message.updated':
        return this.emit('update', data.message as Message);
      case 'message.deleted':
        return this.emit('delete', { message_id: Number(data.message_id), message_seq: typeof data.message_seq === 'number' ? data.message_seq : null });
      case 'typing':
        return this.emit('typing', { user_id: String(data.user_id) });
      case 'member.read':
        return this.emit('read', { user_id: String(data.user_id), last_read_message_id: Number(data.last_read_message_id) });
      case 'member.removed':
        if (this.isMe(data)) {
          this.wanted = false;
          this.joinedConn = null;
          this.stream.left();
          this.client.failSends(this, new ChatError('Forbidden: not a member'));
          this.emit('removed', { membership_id: typeof data.membership_id === 'number' ? data.membership_id : null });
          return;
        }
        return this.emit('change', { type: String(frame.type), data });
      default:
        return this.emit('change', { type: String(frame.type), data });
    }
  }

  /** A removal of this socket's membership (not of an earlier one of the same user). */
  private isMe(data: StreamFrame): boolean {
    const membership = typeof data.membership_id === 'number' ? data.membership_id : null;
    return this.membershipId !== null && membership === this.membershipId;
  }
}

export function createChatClient(options: ChatClientOptions): ChatClient {
  return new ChatClient(options);
}
