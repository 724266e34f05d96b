// One chat member that keeps coming back: it connects to a random live gateway, joins
// its room after the last seq it holds, sends at a steady pace, and on any close or
// error reconnects (backoff + jitter) and resumes. Every frame it gets is recorded, in
// arrival order, in the trace of the connection that got it.
//
// The membership churn tells it when it is being removed and re-added, so that no join
// is ever in flight across a removal: each join then belongs to one known membership.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { Random } from '../support/frame-fuzzer';
import type { AckedSend, ConnectionTrace, Member, TraceEntry } from './trace';

export interface ClientOptions {
  member: Member;
  /** A random running gateway, or null when none is up. */
  pickGateway(): { name: string; port: number } | null;
  random: Random;
  sendIntervalMs: number;
  onAck(ack: AckedSend): void;
}

export interface ClientCounters {
  connects: number;
  connectFailures: number;
  sendsAcked: number;
  /** The connection died before the reply: may or may not be stored. */
  sendsUnknown: number;
  sendsRefused: Record<string, number>;
  joinErrors: Record<string, number>;
  gapNotices: number;
  /** Send replies that took longer than SLOW_REPLY_MS. */
  slowReplies: number;
}

type Frame = Record<string, any>;
type RoomState = 'none' | 'joined' | 'evicted';

interface Connection {
  ws: WebSocket;
  trace: ConnectionTrace;
  /** Reply handlers, called synchronously in the frame handler so the trace keeps arrival order. */
  pending: Map<string, (reply: Frame | null) => void>;
  authed: boolean;
  room: RoomState;
  /** The membership its current join is under (from the join reply). */
  membershipId: number | null;
  joinInFlight: boolean;
}

const SEND_REPLY_PATIENCE_MS = 10_000;
const SLOW_REPLY_MS = 5000;

export class ResilientClient {
  readonly connections: ConnectionTrace[] = [];
  readonly counters: ClientCounters = {
    connects: 0,
    connectFailures: 0,
    sendsAcked: 0,
    sendsUnknown: 0,
    sendsRefused: {},
    joinErrors: {},
    gapNotices: 0,
    slowReplies: 0,
  };
  /** Contents of sends whose outcome is unknown, to look them up at the end. */
  readonly unknownSends: Array<Record<string, unknown>> = [];
  /** Set by the membership churn. */
  private membership: 'active' | 'removing' | 'removed' = 'active';
  /** How many real removals of this member have committed. */
  private epoch = 0;
  private readonly held = new Set<number>();
  /** Every seq up to this one is held: where a join resumes. */
  private contiguous = 0;
  private conn: Connection | null = null;
  private running = false;
  private sending = false;
  private sendsInFlight = 0;
  private nextRequest = 0;
  private nextContent = 0;
  private failedAttempts = 0;
  private loops: Promise<void>[] = [];

  constructor(private readonly options: ClientOptions) {}

  get label(): string {
    return this.options.member.label;
  }

  start(): void {
    this.running = true;
    this.sending = true;
    this.loops = [this.connectLoop(), this.sendLoop()];
  }

  /** Joined on a live connection and holding every seq up to `lastSeq`. */
  caughtUp(lastSeq: number): boolean {
    return this.conn?.room === 'joined' && this.contiguous >= lastSeq;
  }

  heldUpTo(): number {
    return this.contiguous;
  }

  /** Stops sending and waits (bounded) for the replies to sends in flight. */
  async stopSending(): Promise<void> {
    this.sending = false;
    const deadline = Date.now() + SEND_REPLY_PATIENCE_MS;
    while (this.sendsInFlight > 0 && Date.now() < deadline) await sleep(20);
  }

  async close(): Promise<void> {
    this.running = false;
    this.sending = false;
    this.conn?.ws.close();
    await Promise.all(this.loops);
  }

  /** No new join from now on; resolves true once no join is in flight (false, and back to normal, if one still is after `timeoutMs`). */
  async beginRemoval(timeoutMs: number): Promise<boolean> {
    this.membership = 'removing';
    const deadline = Date.now() + timeoutMs;
    while (this.conn?.joinInFlight) {
      if (Date.now() > deadline) {
        this.removalAbandoned();
        return false;
      }
      await sleep(10);
    }
    return true;
  }

  removalCommitted(): void {
    this.epoch++;
    this.membership = 'removed';
  }

  removalAbandoned(): void {
    this.membership = 'active';
    this.maybeJoin();
  }

  readded(): void {
    this.membership = 'active';
    this.maybeJoin();
  }

  private backoffMs(): number {
    const base = Math.min(2000, 100 * 2 ** Math.min(this.failedAttempts, 5));
    return base * (0.5 + this.options.random.next());
  }

  private async connectLoop(): Promise<void> {
    while (this.running) {
      const target = this.options.pickGateway();
      if (target) await this.runConnection(target);
      if (!this.running) break;
      this.failedAttempts++;
      await sleep(this.backoffMs());
    }
  }

  /** One connection, from opening to its close. */
  private async runConnection(target: { name: string; port: number }): Promise<void> {
    const ws = new WebSocket(`ws://127.0.0.1:${target.port}/`, { perMessageDeflate: false, handshakeTimeout: 3000 });
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.on('error', () => {}); // a close follows
    const opened = await new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('close', () => resolve(false));
    });
    if (!opened) {
      this.counters.connectFailures++;
      return;
    }
    if (!this.running) {
      // close() came during the handshake.
      ws.close();
      await closed;
      return;
    }
    this.counters.connects++;
    const { member } = this.options;
    const trace: ConnectionTrace = {
      id: `${member.label}#${this.connections.length + 1}`,
      member: member.label,
      userId: member.userId,
      gateway: `${target.name} :${target.port}`,
      openedAt: Date.now(),
      endedAt: null,
      entries: [],
    };
    this.connections.push(trace);
    const conn: Connection = { ws, trace, pending: new Map(), authed: false, room: 'none', joinInFlight: false, membershipId: null };
    this.conn = conn;
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.onFrame(conn, JSON.parse(data.toString()) as Frame);
    });
    void closed.then(() => {
      trace.endedAt = Date.now();
      if (this.conn === conn) this.conn = null;
      conn.joinInFlight = false;
      for (const handler of conn.pending.values()) handler(null);
      conn.pending.clear();
    });

    this.request(conn, { op: 'auth', token: member.userId }, (reply) => {
      if (!reply) return;
      if (reply.success) {
        conn.authed = true;
        this.maybeJoin();
      } else ws.terminate();
    });
    await closed;
  }

  /** Sends a request; `onReply` gets its reply, or null if the connection closes first. False: not sent (not open). */
  private request(conn: Connection, body: Frame, onReply: (reply: Frame | null) => void): boolean {
    if (conn.ws.readyState !== WebSocket.OPEN) return false;
    const id = `q${this.nextRequest++}`;
    conn.pending.set(id, onReply);
    conn.ws.send(JSON.stringify({ ...body, request_id: id }));
    return true;
  }

  private record(conn: Connection, entry: TraceEntry): void {
    conn.trace.entries.push(entry);
  }

  /** Joins the room on the current connection if it should be joined and is not. */
  private maybeJoin(): void {
    const conn = this.conn;
    if (!conn || !conn.authed || conn.joinInFlight || conn.room === 'joined' || this.membership !== 'active') return;
    const roomId = this.options.member.roomId;
    const entry: TraceEntry = { kind: 'join-sent', at: Date.now(), roomId, afterSeq: this.contiguous, epoch: this.epoch };
    const sent = this.request(conn, { op: 'join', room_id: roomId, after_seq: this.contiguous }, (reply) => {
      conn.joinInFlight = false;
      if (!reply) return;
      if (reply.success) {
        const membershipId = typeof reply.membership_id === 'number' ? reply.membership_id : null;
        this.record(conn, {
          kind: 'join-ok',
          at: Date.now(),
          roomId,
          lastSeq: typeof reply.last_seq === 'number' ? reply.last_seq : null,
          hasMore: typeof reply.has_more === 'boolean' ? reply.has_more : null,
          membershipId,
        });
        conn.room = 'joined';
        conn.membershipId = membershipId;
        this.failedAttempts = 0;
        return;
      }
      const error = String(reply.error);
      this.record(conn, { kind: 'join-failed', at: Date.now(), roomId, error });
      this.counters.joinErrors[error] = (this.counters.joinErrors[error] ?? 0) + 1;
      this.failedAttempts++;
      setTimeout(() => this.conn === conn && this.maybeJoin(), this.backoffMs());
    });
    if (sent) {
      conn.joinInFlight = true;
      this.record(conn, entry);
    }
  }

  private onFrame(conn: Connection, frame: Frame): void {
    if (frame.op !== 'event') {
      const id = frame.request_id;
      const handler = typeof id === 'string' ? conn.pending.get(id) : undefined;
      if (handler) {
        conn.pending.delete(id);
        handler(frame);
      }
      return;
    }
    const at = Date.now();
    const roomId = String(frame.roomId);
    const topSeq = typeof frame.seq === 'number' ? frame.seq : null;
    const mine = roomId === this.options.member.roomId;
    switch (frame.type) {
      case 'message.created': {
        const message = frame.message ?? {};
        const seq = typeof message.seq === 'number' ? message.seq : null;
        const sentAt = typeof message.content?.sentAt === 'number' ? message.content.sentAt : null;
        this.record(conn, { kind: 'message', at, roomId, id: Number(message.id), seq, userId: String(message.user_id), source: String(frame.source), sentAt });
        if (mine && seq !== null) this.hold(seq);
        return;
      }
      case 'member.removed': {
        const userId = String(frame.data?.user_id);
        const membershipId = typeof frame.data?.membership_id === 'number' ? frame.data.membership_id : null;
        this.record(conn, { kind: 'member-removed', at, roomId, userId, seq: topSeq, membershipId });
        // A removal of an earlier membership of ours (told to the whole room) is not about this socket.
        const ours = membershipId === null || conn.membershipId === null || membershipId === conn.membershipId;
        if (mine && userId === this.options.member.userId && conn.room === 'joined' && ours) {
          conn.room = 'evicted';
          this.maybeJoin(); // already re-added: join again now
        }
        return;
      }
      case 'gap': {
        this.record(conn, { kind: 'gap', at, roomId, fromSeq: Number(frame.from_seq), toSeq: Number(frame.to_seq) });
        this.counters.gapNotices++;
        if (mine && conn.room === 'joined') {
          conn.room = 'none';
          this.maybeJoin();
        }
        return;
      }
      default:
        this.record(conn, { kind: 'room-event', at, roomId, type: String(frame.type), seq: topSeq });
    }
  }

  private hold(seq: number): void {
    this.held.add(seq);
    while (this.held.has(this.contiguous + 1)) this.contiguous++;
  }

  private async sendLoop(): Promise<void> {
    const { random, sendIntervalMs } = this.options;
    await sleep(random.next() * sendIntervalMs);
    while (this.sending) {
      const conn = this.conn;
      if (conn?.room === 'joined' && this.membership === 'active' && this.sendsInFlight === 0) this.send(conn);
      await sleep(sendIntervalMs * (0.5 + random.next()));
    }
  }

  private send(conn: Connection): void {
    const { member, onAck } = this.options;
    const content = { chaos: this.nextContent++, by: member.label, sentAt: Date.now() };
    let counted = true;
    // eslint-disable-next-line prefer-const -- declared before the reply callback that clears it, set once the request is out
    let patience: NodeJS.Timeout | undefined;
    const sent = this.request(conn, { op: 'send', room_id: member.roomId, content }, (reply) => {
      clearTimeout(patience);
      if (counted) this.sendsInFlight--;
      if (Date.now() - content.sentAt > SLOW_REPLY_MS) this.counters.slowReplies++;
      if (!reply) {
        this.counters.sendsUnknown++;
        this.unknownSends.push(content);
      } else if (reply.success) {
        this.counters.sendsAcked++;
        onAck({
          connection: conn.trace.id,
          roomId: member.roomId,
          userId: member.userId,
          messageId: Number(reply.message_id),
          seq: typeof reply.seq === 'number' ? reply.seq : null,
          content,
          sentAt: content.sentAt,
          ackedAt: Date.now(),
        });
      } else {
        const error = String(reply.error);
        this.counters.sendsRefused[error] = (this.counters.sendsRefused[error] ?? 0) + 1;
      }
    });
    if (!sent) return;
    this.sendsInFlight++;
    // A reply that takes too long (the database is down) frees the slot; it is still recorded when it comes.
    patience = setTimeout(() => {
      counted = false;
      this.sendsInFlight--;
    }, SEND_REPLY_PATIENCE_MS);
  }
}
