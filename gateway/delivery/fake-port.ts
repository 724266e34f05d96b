// Test-only fakes for gateway/delivery (room.test.ts, fanout.test.ts): a clock whose
// timers the test moves, sockets as plain objects, a uWS-like topic, and an in-memory
// "database" of one room (its messages and memberships) whose reads the test can hold,
// slow down or make fail. Nothing here touches PostgreSQL, Redis or uWS.
//
// The topic models what gateway/uws-ordering.test.ts checks of uWS: a frame published to
// the topic reaches exactly the sockets subscribed at publish time, and a direct send to a
// socket is ordered with the topic frames it already got (both append to one list).
import { createLogger } from '../../shared/logger';
import { roomEventFrame, routeOf, serializeMessageEvent, type ChatMessage } from '../../shared/protocol/events';
import type { JoinSnapshot } from '../sql/join-snapshot';
import type { MemberPage } from '../sql/member-page';
import type { EventCursor, StoredRoomEvent } from '../sql/room-events';
import type { EndedMembership, Membership, RoomGap } from '../sql/room-gap';
import type { StoredPage, StoredPlace } from '../sql/stored-page';
import type { Socket } from '../session';
import { Room, type Joiner, type RoomPort, type RoomSettings } from './room';

export const ROOM_ID = '3f0e6a52-6a1b-4c52-9d7e-0d6f2b1a9c11';
export const silentLogger = createLogger('delivery-test', 'silent');

/** Lets every pending microtask (and promise chain) run. */
export const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

// ---- clock ----

interface Timer {
  at: number;
  id: number;
  fn: () => void;
}

export class FakeClock {
  now = 0;
  private nextId = 0;
  private timers: Timer[] = [];

  setTimer = (ms: number, fn: () => void): { cancel(): void } => {
    const timer: Timer = { at: this.now + Math.max(0, ms), id: ++this.nextId, fn };
    this.timers.push(timer);
    return {
      cancel: () => {
        const i = this.timers.indexOf(timer);
        if (i >= 0) this.timers.splice(i, 1);
      },
    };
  };

  sleep = (ms: number): Promise<void> => new Promise((resolve) => this.setTimer(ms, resolve));

  get pending(): number {
    return this.timers.length;
  }

  nextAt(): number | null {
    let at: number | null = null;
    for (const t of this.timers) if (at === null || t.at < at) at = t.at;
    return at;
  }

  /** Fires the earliest timer due at or before `limit` (moving the clock to it); false if none. */
  fireNext(limit = Infinity): boolean {
    let next: Timer | null = null;
    for (const t of this.timers) if (t.at <= limit && (next === null || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
    if (!next) return false;
    this.timers.splice(this.timers.indexOf(next), 1);
    this.now = Math.max(this.now, next.at);
    next.fn();
    return true;
  }
}

// ---- sockets and topic ----

export interface FakeSocket {
  name: string;
  userId: string;
  closed: boolean;
  /** Every frame that reached this socket, in the order it got them. */
  frames: string[];
  /** drained() waits while this is true (a slow reader). */
  slow: boolean;
  drainWaiters: Array<(ok: boolean) => void>;
  /** The session lists the room (gateway/ops/join.ts sets it before open(); forget() clears it). */
  inRoom: boolean;
  aborted: string | null;
  forgotten: number;
}

export const asSocket = (s: FakeSocket) => s as unknown as Socket;
export const fromSocket = (ws: Socket) => ws as unknown as FakeSocket;

export function fakeSocket(name: string, userId: string): FakeSocket {
  return { name, userId, closed: false, frames: [], slow: false, drainWaiters: [], inRoom: false, aborted: null, forgotten: 0 };
}

export class FakeTopic {
  readonly subscribers = new Set<FakeSocket>();
  readonly published: string[] = [];

  publish(frame: string): void {
    this.published.push(frame);
    for (const s of this.subscribers) if (!s.closed) s.frames.push(frame);
  }
}

// ---- the room's "database" ----

interface MemberRow {
  membershipId: number;
  deleted: boolean;
  removedAfterSeq: number | null;
  lastReadSeq: number;
}

type ReadKind = 'gap' | 'page';

export interface PendingRead {
  kind: ReadKind;
  args: unknown[];
  calledAt: number;
  /** Computed at call time when the db takes snapshots at call time. */
  early?: () => unknown;
  settle(): void;
}

export class FakeDb {
  lastSeq = 0;
  readonly messages = new Map<number, { message: ChatMessage; deleted: boolean }>();
  readonly members = new Map<string, MemberRow>();
  /** Removals by user:membership, as the outbox's member.removed rows keep them (until purged): place and event id. */
  readonly removalEvents = new Map<string, { seq: number; id: number }>();
  /** The outbox no longer has the removal events (retention purged them): a re-added or deleted member's old removal place is unknown. */
  outboxPurged = false;
  private nextMembershipId = 100;
  private nextMessageId = 1000;
  private nextEventId = 5000;
  /** Room events other than messages (removals too), as the outbox keeps them (until purged). */
  private readonly roomEvents: Array<{ id: number; type: string; payload: { seq: number } & Record<string, unknown> }> = [];

  /** Reads reject while true. */
  failing = false;
  /** The next this-many reads reject. */
  failNextReads = 0;
  /** When set, a read of this kind fails (checked when it settles). */
  failWhen: ((kind: ReadKind, args: unknown[]) => boolean) | null = null;
  /** Reads wait in `pending` until the test (or the harness) settles them. */
  readonly pending: PendingRead[] = [];
  /** 'call': a read sees the database as it was when it was issued; 'settle': as it is when it returns. */
  snapshotAt: 'call' | 'settle' = 'settle';
  readonly reads: Array<{ kind: ReadKind; args: unknown[]; at: number }> = [];

  constructor(
    readonly roomId: string,
    readonly pageSize: number,
    private readonly clock: FakeClock,
  ) {}

  // --- writes ---

  add(userId: string): number {
    const row = this.members.get(userId);
    if (row && !row.deleted) return row.membershipId;
    const membershipId = ++this.nextMembershipId;
    this.members.set(userId, { membershipId, deleted: false, removedAfterSeq: null, lastReadSeq: row?.lastReadSeq ?? 0 });
    return membershipId;
  }

  /** Soft-deletes the member row (its place: the room's last seq); returns the member.removed event. */
  remove(userId: string): string {
    const row = this.members.get(userId)!;
    if (row.deleted) throw new Error(`${userId} is not a member`);
    row.deleted = true;
    row.removedAfterSeq = this.lastSeq;
    return this.removalEvent(userId, row.membershipId);
  }

  /** Deletes the member row outright (removed_after_seq is then unknown to reads). */
  deleteRow(userId: string): string {
    const row = this.members.get(userId)!;
    this.members.delete(userId);
    return this.removalEvent(userId, row.membershipId);
  }

  /** The member.removed row the triggers write, placed after the last message; its live frame. */
  private removalEvent(userId: string, membershipId: number): string {
    const frame = this.roomEvent('member.removed', { user_id: userId, membership_id: membershipId });
    this.removalEvents.set(`${userId}:${membershipId}`, { seq: this.lastSeq, id: this.nextEventId });
    return frame;
  }

  membershipOf(userId: string): number {
    return this.members.get(userId)!.membershipId;
  }

  /** Stores a message; returns its live event (as the worker would publish it). */
  append(userId = 'author'): string {
    const seq = ++this.lastSeq;
    const message: ChatMessage = {
      id: ++this.nextMessageId,
      seq,
      user_id: userId,
      content: { text: `m${seq}` },
      created_at: new Date(1_700_000_000_000 + seq).toISOString(),
    };
    this.messages.set(seq, { message, deleted: false });
    return this.liveFrame(seq);
  }

  appendMany(count: number, userId = 'author'): string[] {
    return Array.from({ length: count }, () => this.append(userId));
  }

  liveFrame(seq: number): string {
    return serializeMessageEvent(this.roomId, this.messages.get(seq)!.message, 'live');
  }

  deleteMessage(seq: number): void {
    this.messages.get(seq)!.deleted = true;
  }

  // --- reads (the shapes of gateway/sql/*.ts) ---

  /** Like the SQL (gateway/sql/stored-page.ts), without its byte limit: complete unless it stopped at the row limit. */
  page(afterSeq: number, upTo: number): StoredPage {
    const places = this.places(afterSeq, upTo);
    return { places, complete: places.length < this.pageSize };
  }

  places(afterSeq: number, upTo: number, limit = this.pageSize): StoredPlace[] {
    const out: StoredPlace[] = [];
    for (let seq = afterSeq + 1; seq <= Math.min(upTo, this.lastSeq) && out.length < limit; seq++) {
      const stored = this.messages.get(seq);
      if (!stored) continue;
      out.push({ seq, message: stored.deleted ? null : stored.message });
    }
    return out;
  }

  /** gateway/sql/join-snapshot.ts */
  snapshot(userId: string, afterSeq: number | null, backfillLimit: number): JoinSnapshot | null {
    const row = this.members.get(userId);
    if (!row || row.deleted) return null;
    const startAfter = Math.min(this.lastSeq, afterSeq ?? row.lastReadSeq);
    return {
      membershipId: row.membershipId,
      lastSeq: this.lastSeq,
      startAfter,
      page: this.page(startAfter, Math.min(this.lastSeq, startAfter + backfillLimit)),
      events: this.eventsAfter({ seq: startAfter, id: 0 }, Math.min(this.lastSeq, startAfter + backfillLimit), this.pageSize, userId),
    };
  }

  /** gateway/sql/room-gap.ts */
  gapNow(afterSeq: number, upToSeq: number | null, memberships: readonly Membership[]): RoomGap {
    const ended: EndedMembership[] = [];
    for (const m of memberships) {
      const row = this.members.get(m.userId);
      if (!row || row.membershipId !== m.membershipId || row.deleted) {
        const event = this.outboxPurged ? undefined : this.removalEvents.get(`${m.userId}:${m.membershipId}`);
        ended.push({ userId: m.userId, membershipId: m.membershipId, removedAfterSeq: this.removalPlace(m, row), eventId: event?.id ?? null });
      }
    }
    const events = this.eventsAfter({ seq: afterSeq, id: 0 }, upToSeq ?? Infinity, Infinity);
    return { page: this.page(afterSeq, upToSeq ?? Infinity), ended, events };
  }

  /** Writes a room event (an edit, a room change) through the outbox, placed after the last message; returns its live frame. */
  roomEvent(type: string, data: Record<string, unknown>): string {
    const event = { id: ++this.nextEventId, type, payload: { ...data, seq: this.lastSeq } };
    this.roomEvents.push(event);
    return roomEventFrame(type, this.roomId, event.id, event.payload);
  }

  /** gateway/sql/room-events.ts: after the cursor by (place, id), placed up to `upTo`, at most a page, without `exceptRemovalsOf`'s removals. */
  eventsAfter(after: EventCursor, upTo: number, limit = this.pageSize, exceptRemovalsOf: string | null = null): StoredRoomEvent[] {
    if (this.outboxPurged) return [];
    const own = (e: (typeof this.roomEvents)[number]) => e.type === 'member.removed' && e.payload.user_id === exceptRemovalsOf;
    const placed = this.roomEvents.filter(
      (e) => (e.payload.seq > after.seq || (e.payload.seq === after.seq && e.id > after.id)) && e.payload.seq <= upTo && !own(e),
    );
    return placed.sort((a, b) => a.payload.seq - b.payload.seq || a.id - b.id).slice(0, limit);
  }

  /** gateway/sql/member-page.ts */
  pageNow(membership: Membership, afterSeq: number, upToSeq: number, eventsAfter: EventCursor): MemberPage {
    const row = this.members.get(membership.userId);
    const same = row !== undefined && row.membershipId === membership.membershipId;
    const read = { page: this.page(afterSeq, upToSeq), events: this.eventsAfter(eventsAfter, upToSeq, this.pageSize, membership.userId) };
    return same && !row.deleted ? read : { ...read, endedAfterSeq: this.removalPlace(membership, row) };
  }

  /** Like the SQL: the member row's removed_after_seq, else the membership's member.removed event in the outbox. */
  private removalPlace(m: Membership, row: MemberRow | undefined): number | null {
    if (row && row.membershipId === m.membershipId) return row.removedAfterSeq;
    return this.outboxPurged ? null : (this.removalEvents.get(`${m.userId}:${m.membershipId}`)?.seq ?? null);
  }

  private read<T>(kind: ReadKind, args: unknown[], compute: () => T): Promise<T> {
    this.reads.push({ kind, args, at: this.clock.now });
    return new Promise<T>((resolve, reject) => {
      const atCall = this.snapshotAt === 'call' ? compute() : undefined;
      const read: PendingRead = {
        kind,
        args,
        calledAt: this.clock.now,
        settle: () => {
          const i = this.pending.indexOf(read);
          if (i >= 0) this.pending.splice(i, 1);
          if (this.failing || this.failNextReads > 0 || this.failWhen?.(kind, args)) {
            if (this.failNextReads > 0) this.failNextReads--;
            reject(new Error('database unavailable'));
            return;
          }
          resolve(atCall ?? compute());
        },
      };
      this.pending.push(read);
    });
  }

  readGap = (afterSeq: number, upToSeq: number | null, memberships: readonly Membership[]): Promise<RoomGap> =>
    this.read('gap', [afterSeq, upToSeq, memberships.map((m) => ({ ...m }))], () => this.gapNow(afterSeq, upToSeq, memberships));

  readPage = (membership: Membership, afterSeq: number, upToSeq: number, eventsAfter: EventCursor): Promise<MemberPage> =>
    this.read('page', [membership, afterSeq, upToSeq, { ...eventsAfter }], () => this.pageNow(membership, afterSeq, upToSeq, eventsAfter));

  gapReads(): Array<{ afterSeq: number; upTo: number | null; memberships: Membership[]; at: number }> {
    return this.reads
      .filter((r) => r.kind === 'gap')
      .map((r) => ({ afterSeq: r.args[0] as number, upTo: r.args[1] as number | null, memberships: r.args[2] as Membership[], at: r.at }));
  }
}

// ---- frames as a client sees them ----

export type Seen =
  | { type: 'join'; lastSeq: number; hasMore: boolean }
  | { type: 'message'; seq: number; source: string }
  | { type: 'gap'; from: number; to: number }
  | { type: 'removed'; seq: number | null; userId: string; membershipId: number | null; eventId: number | null }
  | { type: 'other'; raw: unknown };

export function parseFrame(frame: string): Seen {
  const f = JSON.parse(frame) as Record<string, any>;
  if (f.op === 'join') return { type: 'join', lastSeq: f.last_seq, hasMore: f.has_more };
  if (f.type === 'message.created') return { type: 'message', seq: f.message.seq, source: f.source };
  if (f.type === 'gap') return { type: 'gap', from: f.from_seq, to: f.to_seq };
  if (f.type === 'member.removed')
    return { type: 'removed', seq: f.seq ?? null, userId: f.data.user_id, membershipId: f.data.membership_id ?? null, eventId: f.event_id ?? null };
  return { type: 'other', raw: f };
}

export const seen = (s: FakeSocket) => s.frames.map(parseFrame);
export const seqsOf = (s: FakeSocket) => seen(s).flatMap((f) => (f.type === 'message' ? [f.seq] : []));
/** A compact trace of a socket's frames: 'J' join reply, numbers for messages, 'gap:a-b', 'rm:user@seq', 'type@seq' for other events. */
export const traceOf = (s: FakeSocket) =>
  seen(s).map((f) => {
    switch (f.type) {
      case 'join':
        return 'J';
      case 'message':
        return f.seq;
      case 'gap':
        return `gap:${f.from}-${f.to}`;
      case 'removed':
        return `rm:${f.userId}@${f.seq}`;
      default:
        return `${(f.raw as { type?: string }).type ?? '?'}@${(f.raw as { seq?: number }).seq ?? '-'}`;
    }
  });
export const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

// ---- one room with a fake port ----

export interface HarnessOptions extends Partial<RoomSettings> {
  backfillLimit?: number;
}

export interface JoinInfo {
  joiner: Joiner;
  snapshot: JoinSnapshot | null;
  backfillEnd: number;
  opened: boolean | null;
}

export class RoomHarness {
  readonly clock = new FakeClock();
  readonly topic = new FakeTopic();
  readonly db: FakeDb;
  readonly settings: RoomSettings;
  readonly backfillLimit: number;
  readonly port: RoomPort;
  readonly room: Room;
  readonly counts = { duplicate: 0, gap_read: 0, gap_notice: 0 };
  /** Frames handed to publish() after the room was closed. */
  publishedAfterClose: string[] = [];
  private roomClosed = false;
  readonly aborted: Array<{ socket: FakeSocket; reason: string }> = [];

  constructor(options: HarnessOptions = {}) {
    this.settings = {
      holdMs: options.holdMs ?? 50,
      gapTimeoutMs: options.gapTimeoutMs ?? 2000,
      pageSize: options.pageSize ?? 3,
      maxHeldBytes: options.maxHeldBytes ?? 1_000_000,
    };
    this.backfillLimit = options.backfillLimit ?? 500;
    this.db = new FakeDb(ROOM_ID, this.settings.pageSize, this.clock);
    this.port = this.makePort();
    this.room = new Room(this.port, this.settings);
  }

  private makePort(): RoomPort {
    return {
      roomId: ROOM_ID,
      publish: (frame) => {
        if (this.roomClosed) this.publishedAfterClose.push(frame);
        this.topic.publish(frame);
      },
      send: (ws, frames) => {
        const s = fromSocket(ws);
        if (s.closed) return false;
        s.frames.push(...frames);
        return true;
      },
      drained: (ws) => {
        const s = fromSocket(ws);
        if (s.closed) return Promise.resolve(false);
        if (!s.slow) return Promise.resolve(true);
        return new Promise((resolve) => s.drainWaiters.push(resolve));
      },
      subscribe: (ws) => {
        const s = fromSocket(ws);
        if (!s.closed) this.topic.subscribers.add(s);
      },
      unsubscribe: (ws) => {
        this.topic.subscribers.delete(fromSocket(ws));
      },
      forget: (ws) => {
        const s = fromSocket(ws);
        s.inRoom = false;
        s.forgotten++;
      },
      readGap: (...args) => this.db.readGap(...args),
      readPage: (...args) => this.db.readPage(...args),
      abort: (ws, reason) => {
        const s = fromSocket(ws);
        this.aborted.push({ socket: s, reason });
        s.aborted = reason;
        this.closeSocket(s); // uWS: ws.end() runs the close handler at once
      },
      count: (what) => {
        this.counts[what]++;
      },
      setTimer: this.clock.setTimer,
      sleep: this.clock.sleep,
      now: () => this.clock.now,
      logger: silentLogger,
    };
  }

  socket(name: string, userId = name): FakeSocket {
    return fakeSocket(name, userId);
  }

  /** What the server's close handler does: the session's rooms are left. */
  closeSocket(s: FakeSocket): void {
    if (s.closed) return;
    s.closed = true;
    this.topic.subscribers.delete(s);
    for (const wake of s.drainWaiters.splice(0)) wake(false);
    if (s.inRoom) {
      s.inRoom = false;
      this.room.leave(asSocket(s));
    }
  }

  closeRoom(): void {
    this.roomClosed = true;
    this.room.close();
  }

  setSlow(s: FakeSocket, slow: boolean): void {
    s.slow = slow;
    if (!slow) for (const wake of s.drainWaiters.splice(0)) wake(true);
  }

  /** A bus event reaches the room (as fanout.ts hands it on). */
  deliver(...frames: string[]): void {
    for (const frame of frames) this.room.receive(frame, routeOf(frame)!);
  }

  // --- joins, as gateway/ops/join.ts drives them ---

  register(s: FakeSocket): Joiner {
    return this.room.register(asSocket(s), s.userId);
  }

  snapshot(s: FakeSocket, afterSeq: number | null = null): JoinSnapshot | null {
    return this.db.snapshot(s.userId, afterSeq, this.backfillLimit);
  }

  /** join.ts after its snapshot: cancel for a closed socket or a non-member, else open(). */
  open(s: FakeSocket, joiner: Joiner, snapshot: JoinSnapshot | null): boolean {
    if (s.closed || !snapshot) {
      this.room.cancel(joiner);
      return false;
    }
    const backfillEnd = Math.min(snapshot.lastSeq, snapshot.startAfter + this.backfillLimit);
    const reply = JSON.stringify({ op: 'join', success: true, room_id: ROOM_ID, last_seq: snapshot.lastSeq, has_more: backfillEnd < snapshot.lastSeq });
    s.inRoom = true;
    const ok = this.room.open(joiner, { ...snapshot, backfillEnd, reply });
    if (!ok) s.inRoom = false;
    return ok;
  }

  /** register + snapshot + open at once. */
  join(s: FakeSocket, afterSeq: number | null = null): boolean {
    const joiner = this.register(s);
    return this.open(s, joiner, this.snapshot(s, afterSeq));
  }

  /** A member joins and gets everything (backfill and live). */
  async joinLive(s: FakeSocket, afterSeq: number | null = null): Promise<void> {
    if (!this.db.members.has(s.userId) || this.db.members.get(s.userId)!.deleted) this.db.add(s.userId);
    if (!this.join(s, afterSeq)) throw new Error(`${s.name} could not join`);
    await this.settle();
  }

  isLive(s: FakeSocket): boolean {
    return this.topic.subscribers.has(s);
  }

  // --- running ---

  /**
   * Runs the room until it waits only for time (or, with `time`, until nothing at all is
   * left): microtasks, then pending reads one at a time (unless `reads: false`), then timers.
   * Throws instead of spinning forever.
   */
  async settle(options: { time?: boolean; reads?: boolean; maxSteps?: number; until?: number } = {}): Promise<void> {
    const maxSteps = options.maxSteps ?? 5000;
    for (let step = 0; step < maxSteps; step++) {
      await tick();
      if (options.reads !== false && this.db.pending.length) {
        this.db.pending[0]!.settle();
        continue;
      }
      if (options.time && this.clock.fireNext(options.until ?? Infinity)) continue;
      if (options.until !== undefined && this.clock.now < options.until) this.clock.now = options.until;
      return;
    }
    throw new Error(
      `the room did not settle within ${maxSteps} steps (pending reads: ${this.db.pending.length}, timers: ${this.clock.pending}, reads so far: ${this.db.reads.length})`,
    );
  }

  /** Moves the clock by `ms`, firing timers and settling reads on the way. */
  async advance(ms: number, options: { reads?: boolean; maxSteps?: number } = {}): Promise<void> {
    await this.settle({ ...options, time: true, until: this.clock.now + ms });
  }
}
