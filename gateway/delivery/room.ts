// One room on this gateway: its sockets, the delivery order (room-order.ts), joining
// sockets on their way from backfill to live, and the reads that close gaps. Everything
// that touches sockets, uWS topics, PostgreSQL or timers goes through a RoomPort, so the
// logic is tested with fakes (room.test.ts).
//
// A joining socket is not subscribed to the room's topic until it has everything before
// it: its backfill (read in pages, paced by the socket's buffer), then whatever the room
// handed on meanwhile — captured for it as it went out ("held"), or read back from
// PostgreSQL when the capture overflowed. The switch to the topic happens synchronously,
// between two deliveries, so nothing can fall between.
import {
  roomEventFrame,
  routeOf,
  serializeGapEvent,
  serializeMessageEvent,
  serializeRoomEvent,
  type EventRoute,
  type EventSource,
} from '../../shared/protocol/events';
import type { Logger } from '../../shared/logger';
import type { MemberPage } from '../sql/member-page';
import type { EventCursor, StoredRoomEvent } from '../sql/room-events';
import type { EndedMembership, Membership, RoomGap } from '../sql/room-gap';
import type { StoredPage, StoredPlace } from '../sql/stored-page';
import type { Socket } from '../session';
import { RoomOrder, type Emitted, type RoomEvent } from './room-order';

export interface RoomSettings {
  /** How long a message that came early waits for the ones before it before they are read from PostgreSQL. */
  holdMs: number;
  /** How long a gap may stay open (reads failing) before clients are told and delivery goes on. */
  gapTimeoutMs: number;
  /** Places read per query. */
  pageSize: number;
  /** Bytes captured for one joining socket before it reads from PostgreSQL instead. */
  maxHeldBytes: number;
}

export interface RoomPort {
  readonly roomId: string;
  /** Hands a frame to the room's topic (every live socket of the room here). */
  publish(frame: string): void;
  /** Sends frames to one socket now; false if it is gone (closed, or closed as a slow consumer). */
  send(ws: Socket, frames: readonly string[]): boolean;
  /** Resolves when the socket can take another page without passing its high-water mark; false if it is gone. */
  drained(ws: Socket): Promise<boolean>;
  subscribe(ws: Socket): void;
  unsubscribe(ws: Socket): void;
  /** The socket is no longer in the room (evicted, or its join ended): forget it in its session. */
  forget(ws: Socket): void;
  /** A page of what the room missed after `afterSeq`, with the ended memberships among `memberships` and the room's other events from `afterSeq` on. */
  readGap(afterSeq: number, upToSeq: number | null, memberships: readonly Membership[]): Promise<RoomGap>;
  /** A page for one joining socket, checked against its membership, with the room's other events after `eventsAfter` placed up to `upToSeq`. */
  readPage(membership: Membership, afterSeq: number, upToSeq: number, eventsAfter: EventCursor): Promise<MemberPage>;
  /** Closes a socket whose join cannot be completed (it reconnects and resumes). */
  abort(ws: Socket, reason: string): void;
  /** An event went out (metrics). */
  delivered?(route: EventRoute): void;
  /** Counts what the rule did: duplicates dropped, gaps read, gap notices. */
  count?(what: 'duplicate' | 'gap_read' | 'gap_notice'): void;
  setTimer(ms: number, fn: () => void): { cancel(): void };
  sleep(ms: number): Promise<void>;
  now(): number;
  logger: Logger;
}

/** What a join's snapshot said (see gateway/sql/join-snapshot.ts), and its reply frame. */
export interface OpenJoin {
  membershipId: number;
  lastSeq: number;
  startAfter: number;
  /** Last seq the backfill covers: min(lastSeq, startAfter + BACKFILL_LIMIT). */
  backfillEnd: number;
  page: StoredPage;
  /** The room's other events placed in the first page's stretch (from startAfter on). */
  events: StoredRoomEvent[];
  reply: string;
}

/** What a joiner reads: places, and the room's other events placed among them. */
type JoinerRead = Pick<MemberPage, 'page' | 'events'>;

export interface Joiner {
  readonly ws: Socket;
  readonly userId: string;
  membershipId: number | null;
  /** Removals of this user's memberships seen before its own membership was known. */
  removalsSeen: Array<number | null>;
  /** Room deliveries captured for it: every one after the room's delivered seq was `heldFrom`. */
  held: RoomEvent[];
  heldBytes: number;
  heldFrom: number | null;
  /** It has everything up to this seq. */
  cursor: number;
  /** Live delivery starts after this seq (its snapshot's last_seq); null until its snapshot. */
  liveAfter: number | null;
  /** Waiting for the room to deliver this seq, to go live right after it. */
  waitingFor: number | null;
  /** Its membership ended at this seq: it gets the room up to there, then the removal, and never goes live. */
  endAt: number | null;
  phase: 'backfill' | 'catch-up';
  /** The backfill covers up to here (its snapshot's min(last_seq, start + BACKFILL_LIMIT)). */
  backfillEnd: number;
  firstPage: JoinerRead | null;
  /** The room's other events (edits, deletes, room and member changes) went out to it up to here. */
  eventsAfter: EventCursor;
  /** Its last read of events was a full page: more may follow before its cursor. */
  eventsMore: boolean;
  /** Captures dropped (overflow): events placed where it stood went with them and are read again. */
  captureDrops: number;
  /** captureDrops as of the last read of events issued after them. */
  captureDropsRead: number;
  /** Ids of the events sent to it from reads: the room may hand them on too (captured for it, or live, late after a bus drop). */
  sentEvents: Set<number>;
  /** completeJoin() is running for it. */
  driving: boolean;
  /** Its membership is known good up to this bus reconnect (see Room.verifyGeneration). */
  checkedGeneration: number;
  /** Events captured for it from reads that did not check its membership (it was not known yet). */
  uncheckedCaptures: number;
  /** uncheckedCaptures as of its last membership check. */
  checkedCaptures: number;
  /** The join reply went out. */
  opened: boolean;
  done: boolean;
}

interface LiveSocket {
  userId: string;
  membershipId: number;
}

/** Whether a socket that has everything up to `cursor` still needs this event. */
function needed(event: RoomEvent, cursor: number): boolean {
  switch (event.kind) {
    case 'message':
      return event.seq > cursor;
    case 'gap':
      return event.toSeq > cursor;
    case 'other':
      return event.seq === null || event.seq >= cursor;
    case 'skip':
      return false;
  }
}

/** The seq of the message a stored room event follows. */
const placeOf = (event: StoredRoomEvent) => (event.payload as { seq: number }).seq;

/** Room events remembered by id (see knownEvents); past this the oldest are forgotten. */
const MAX_KNOWN_EVENTS = 10_000;

const frameBytes = (event: RoomEvent) => (event.kind === 'skip' ? 0 : Buffer.byteLength(event.frame));

export class Room {
  private readonly order = new RoomOrder();
  private readonly live = new Map<Socket, LiveSocket>();
  private readonly joiners = new Set<Joiner>();
  /** Removals read back from PostgreSQL that take effect once their place is delivered. */
  private pendingRemovals: EndedMembership[] = [];
  /** Seq of the last message handed on (order.delivered runs ahead of it while a batch is handed on). */
  private handedOn = 0;
  private holdTimer: { cancel(): void } | null = null;
  /** When the current gap was first seen (for the gap timeout). */
  private gapSince: number | null = null;
  private filling: Promise<void> | null = null;
  /** After a bus reconnect: read everything after the last delivered seq, to the room's end. */
  private readToEnd = false;
  /** After a bus reconnect nothing goes out until memberships have been checked; bumped per reconnect. */
  private verifyGeneration = 0;
  private verifiedGeneration = 0;
  /** Bumped by every request to read to the end of the room, so that a read issued before one does not clear it. */
  private readToEndRequests = 0;
  /** Removals already applied (user:membership), so that one read back and then heard live is told once. */
  private readonly appliedRemovals = new Set<string>();
  /** Room events handed on or held here, by `event_id`: one read back after a bus drop and also heard live is told once. */
  private readonly knownEvents = new Map<number, 'held' | 'handed on'>();
  /**
   * Room events that sockets read before they went live and the room may still hand on
   * (live, or read back late after a bus drop), by `event_id`: those sockets are not sent
   * them again. The oldest are forgotten past MAX_KNOWN_EVENTS.
   */
  private readonly readBeforeLive = new Map<number, Set<Socket>>();
  private gapFrom: number | null = null;
  /** While a read's page is handed on: the memberships that read checked. */
  private handingOnRead: Set<string> | null = null;
  private fillAgain = false;
  private closed = false;

  constructor(
    private readonly port: RoomPort,
    private readonly settings: RoomSettings,
  ) {}

  /** Sockets in the room here: live and joining. */
  get size(): number {
    return this.live.size + this.joiners.size;
  }

  get deliveredSeq(): number | null {
    return this.order.delivered;
  }

  /** A fill in progress, or none (tests and shutdown wait on it). */
  settled(): Promise<void> {
    return this.filling ?? Promise.resolve();
  }

  // ---- events from the bus ----

  receive(frame: string, route: EventRoute): void {
    if (this.closed) return;
    if (route.type === 'message.created') {
      if (route.seq === null) {
        // Written by something that does not number messages: read the room back to find out.
        this.port.logger.warn({ roomId: this.port.roomId }, 'message event without seq; reading the room back');
        this.requestReadToEnd();
        return;
      }
      const delivered = this.order.delivered;
      if (delivered !== null && route.seq <= delivered) {
        this.port.count?.('duplicate');
        return;
      }
      this.handOn(this.order.offer({ kind: 'message', seq: route.seq, frame, route }));
    } else {
      if (this.seenBefore(route)) {
        this.port.count?.('duplicate');
        return;
      }
      this.handOn(this.order.offer({ kind: 'other', seq: route.seq, frame, route }));
    }
    this.watchForGap();
  }

  /** Whether this room event (by its event_id) was handed on or held here already; remembers it. */
  private seenBefore(route: EventRoute): boolean {
    if (route.eventId === null) return false;
    if (this.knownEvents.has(route.eventId)) return true;
    this.knownEvents.set(route.eventId, 'held');
    if (this.knownEvents.size > MAX_KNOWN_EVENTS) this.knownEvents.delete(this.knownEvents.keys().next().value!);
    return false;
  }

  /**
   * A message this gateway stored, offered right after its commit instead of waiting for its
   * copy from the bus. Taken (true) only when it is the next one here and no event other than
   * a message was placed since the one before it (`eventSeq`: the room's newest such place
   * when it was stored): every event placed earlier came to this room before the message
   * after it, through the bus or a read from PostgreSQL that checked memberships, so a
   * removal this gateway has not heard of cannot be overtaken. Otherwise the copy from the
   * bus brings it, in order.
   */
  takeOwn(frame: string, route: EventRoute, eventSeq: number): boolean {
    if (this.closed || route.type !== 'message.created' || route.seq === null) return false;
    if (eventSeq >= route.seq - 1 || this.filling || this.readToEnd || this.pendingRemovals.length > 0) return false;
    if (!this.order.isNext(route.seq)) return false;
    this.receive(frame, route);
    return true;
  }

  /** The bus lost its connection and got it back: what was published meanwhile is gone. */
  busReconnected(): void {
    if (this.closed) return;
    this.verifyGeneration++;
    this.order.pause();
    this.requestReadToEnd();
  }

  private requestReadToEnd(): void {
    this.readToEnd = true;
    this.readToEndRequests++;
    void this.fill();
  }

  // ---- joins ----

  /** A socket starts joining; call before its snapshot is read, so that nothing delivered after it is missed. */
  register(ws: Socket, userId: string): Joiner {
    const joiner: Joiner = {
      ws,
      userId,
      membershipId: null,
      removalsSeen: [],
      held: [],
      heldBytes: 0,
      heldFrom: this.order.delivered,
      cursor: 0,
      liveAfter: null,
      waitingFor: null,
      endAt: null,
      phase: 'backfill',
      backfillEnd: 0,
      firstPage: null,
      eventsAfter: { seq: 0, id: 0 },
      eventsMore: false,
      captureDrops: 0,
      captureDropsRead: 0,
      sentEvents: new Set(),
      driving: false,
      // Its snapshot, read right after this, checks its membership as of now.
      checkedGeneration: this.verifyGeneration,
      uncheckedCaptures: 0,
      checkedCaptures: 0,
      opened: false,
      done: false,
    };
    this.joiners.add(joiner);
    return joiner;
  }

  /**
   * The join's snapshot is in. Sends the reply and the first backfill page, and goes on in
   * the background (rest of the backfill, then live). False if the membership ended meanwhile.
   */
  open(joiner: Joiner, join: OpenJoin): boolean {
    if (joiner.done) return false;
    joiner.membershipId = join.membershipId;
    if (joiner.removalsSeen.some((id) => id === null || id === join.membershipId)) {
      this.dropJoiner(joiner);
      return false;
    }
    joiner.liveAfter = join.lastSeq;
    joiner.cursor = join.startAfter;
    joiner.firstPage = { page: join.page, events: join.events };
    joiner.eventsAfter = { seq: join.startAfter, id: 0 };
    joiner.backfillEnd = join.backfillEnd;
    if (!this.order.started) {
      for (const other of this.joiners) if (other.heldFrom === null) other.heldFrom = join.lastSeq;
      this.handedOn = join.lastSeq;
      this.handOn(this.order.begin(join.lastSeq));
      if (this.readToEnd) void this.fill();
      else this.watchForGap();
    }
    if (joiner.done) return false; // removed by an event that was waiting for the room to start
    this.prune(joiner);
    joiner.opened = true;
    if (!this.port.send(joiner.ws, [join.reply])) {
      this.dropJoiner(joiner);
      return true;
    }
    this.drive(joiner);
    return true;
  }

  /** Runs completeJoin() for a joiner unless it already runs (it then sees the change itself). */
  private drive(joiner: Joiner): void {
    if (joiner.driving || joiner.done) return;
    joiner.driving = true;
    this.completeJoin(joiner)
      .catch((err: unknown) => {
        if (joiner.done) return; // it had ended anyway (left, re-joined, closed)
        this.port.logger.warn({ roomId: this.port.roomId, err }, 'join could not be completed; closing the socket');
        this.dropJoiner(joiner);
        this.port.abort(joiner.ws, 'join could not be completed');
      })
      .finally(() => {
        joiner.driving = false;
      });
  }

  /** The join failed before open(), or the socket left: forget it. */
  cancel(joiner: Joiner): void {
    this.dropJoiner(joiner);
  }

  /** Takes a socket out of the room (re-join, leave, close). */
  leave(ws: Socket): void {
    if (this.live.delete(ws)) this.port.unsubscribe(ws);
    for (const joiner of this.joiners) if (joiner.ws === ws) this.dropJoiner(joiner);
  }

  close(): void {
    this.closed = true;
    this.holdTimer?.cancel();
    this.holdTimer = null;
    for (const joiner of this.joiners) joiner.done = true;
    this.joiners.clear();
  }

  private dropJoiner(joiner: Joiner): void {
    joiner.done = true;
    joiner.held = [];
    this.joiners.delete(joiner);
  }

  /**
   * Rest of the backfill, then what the room delivered meanwhile, then the topic — or, once
   * its membership ended, the room up to the removal's place, then the removal.
   */
  private async completeJoin(joiner: Joiner): Promise<void> {
    if (joiner.phase === 'backfill') {
      const first = joiner.firstPage;
      if (first) {
        joiner.firstPage = null;
        if (!(await this.sendRead(joiner, first, joiner.backfillEnd, 'backfill'))) return;
      }
      if (!(await this.streamPages(joiner, joiner.backfillEnd, 'backfill'))) return;
      joiner.phase = 'catch-up';
      // Past a has_more backfill the client reads the messages up to last_seq from history
      // (live starts after it); the room's other events placed there still come from here.
      const liveFrom = Math.max(joiner.cursor, Math.min(joiner.liveAfter!, joiner.endAt ?? Infinity));
      if (liveFrom > joiner.cursor) {
        joiner.cursor = liveFrom;
        joiner.eventsMore = true;
        if (!(await this.streamPages(joiner, liveFrom, 'backfill'))) return;
      }
    }
    for (;;) {
      if (joiner.done) return;
      if (joiner.endAt !== null) return this.endJoin(joiner);
      if (this.needsCheck(joiner)) {
        // A removal may have been lost (a bus drop) or overtaken (a read that did not ask about it).
        if (!(await this.checkMembership(joiner))) return;
        continue;
      }
      const delivered = this.order.delivered!;
      if (delivered < joiner.cursor) {
        joiner.waitingFor = joiner.cursor; // goLive() runs when the room delivers it
        return;
      }
      if (joiner.heldFrom !== null && joiner.heldFrom <= joiner.cursor && !this.eventsPending(joiner)) {
        if (!(await this.port.drained(joiner.ws))) return this.dropJoiner(joiner);
        if (joiner.done || joiner.endAt !== null || this.needsCheck(joiner)) continue;
        if (joiner.heldFrom !== null && joiner.heldFrom <= joiner.cursor && !this.eventsPending(joiner) && this.order.delivered! >= joiner.cursor)
          return this.goLive(joiner);
        continue;
      }
      // The capture does not reach back to what it has (it overflowed, or the room started after its snapshot).
      if (!(await this.streamPages(joiner, joiner.heldFrom ?? delivered, 'live'))) return;
    }
  }

  /** Its membership ended: the room up to the removal's place, then the removal. */
  private async endJoin(joiner: Joiner): Promise<void> {
    if (!(await this.streamPages(joiner, joiner.endAt!, 'live'))) return;
    const removal = serializeRoomEvent('member.removed', this.port.roomId, { user_id: joiner.userId, membership_id: joiner.membershipId }, joiner.endAt);
    this.port.send(joiner.ws, [removal]);
    this.dropJoiner(joiner);
    this.port.forget(joiner.ws);
  }

  /** Ends a joiner's membership at `seq` (at once when unknown): see endJoin(). */
  private endMembership(joiner: Joiner, seq: number | null): void {
    const at = seq ?? joiner.cursor;
    joiner.endAt = joiner.endAt === null ? at : Math.min(joiner.endAt, at);
    joiner.waitingFor = null;
    this.drive(joiner);
  }

  /**
   * Whether its membership must be read again before it goes live: the bus dropped since it
   * was last checked, or it was handed messages from a read that did not check it.
   */
  private needsCheck(joiner: Joiner): boolean {
    return joiner.checkedGeneration < this.verifyGeneration || joiner.uncheckedCaptures > joiner.checkedCaptures;
  }

  /** Reads the joiner's membership (an empty page); false if the join ended. */
  private async checkMembership(joiner: Joiner): Promise<boolean> {
    const generation = this.verifyGeneration;
    const captures = joiner.uncheckedCaptures;
    let failingSince: number | null = null;
    for (;;) {
      try {
        const read = await this.port.readPage({ userId: joiner.userId, membershipId: joiner.membershipId! }, joiner.cursor, joiner.cursor, joiner.eventsAfter);
        if (joiner.done) return false;
        if (read.endedAfterSeq !== undefined) this.endMembership(joiner, read.endedAfterSeq);
        else {
          joiner.checkedGeneration = Math.max(joiner.checkedGeneration, generation);
          joiner.checkedCaptures = Math.max(joiner.checkedCaptures, captures);
        }
        return true;
      } catch (err) {
        if (joiner.done) return false;
        failingSince ??= this.port.now();
        if (this.port.now() - failingSince > this.settings.gapTimeoutMs) throw err;
        await this.port.sleep(this.retryDelay(this.port.now() - failingSince));
      }
    }
  }

  /**
   * Sends the room's places after joiner.cursor up to `upTo` (or its removal's place), with
   * the room's other events placed among them, page by page, paced by the socket. False if
   * the join ended.
   */
  private async streamPages(joiner: Joiner, upTo: number, source: EventSource): Promise<boolean> {
    const membership = { userId: joiner.userId, membershipId: joiner.membershipId! };
    let failingSince: number | null = null;
    for (;;) {
      const end = Math.min(upTo, joiner.endAt ?? upTo);
      if (joiner.cursor >= end && !this.eventsPending(joiner)) return true;
      if (joiner.done) return false;
      let read: MemberPage;
      const generation = this.verifyGeneration;
      const drops = joiner.captureDrops;
      try {
        read = await this.port.readPage(membership, joiner.cursor, end, joiner.eventsAfter);
        failingSince = null;
      } catch (err) {
        if (joiner.done) return false;
        failingSince ??= this.port.now();
        if (this.port.now() - failingSince > this.settings.gapTimeoutMs) throw err;
        await this.port.sleep(this.retryDelay(this.port.now() - failingSince));
        continue;
      }
      if (joiner.done) return false;
      // Removed meanwhile (its event may not have reached this gateway): it gets what it was a member for.
      if (read.endedAfterSeq !== undefined) this.endMembership(joiner, read.endedAfterSeq);
      else joiner.checkedGeneration = Math.max(joiner.checkedGeneration, generation);
      if (!(await this.sendRead(joiner, read, end, source))) return false;
      joiner.captureDropsRead = Math.max(joiner.captureDropsRead, drops);
    }
  }

  /** Events may be left to read for a joiner: its last read had a full page of them, or captures were dropped since. */
  private eventsPending(joiner: Joiner): boolean {
    return joiner.eventsMore || joiner.captureDrops > joiner.captureDropsRead;
  }

  /**
   * Sends a read's messages, each room event right after the message it follows, as far as
   * the read reaches (and never past the joiner's removal), and moves the joiner's cursors
   * there. False if the join ended.
   */
  private async sendRead(joiner: Joiner, read: JoinerRead, upTo: number, source: EventSource): Promise<boolean> {
    const { page, events } = read;
    let reached = page.complete ? upTo : (page.places.at(-1)?.seq ?? joiner.cursor);
    // A full page of events may not be all of them: the rest come before the messages after the last one.
    const full = events.length >= this.settings.pageSize;
    if (full) reached = Math.min(reached, placeOf(events.at(-1)!));
    const end = joiner.endAt;
    if (end !== null) reached = Math.min(reached, end);
    // An event at the removal's own place may have come after the removal: left out.
    const wanted = (event: StoredRoomEvent) => placeOf(event) <= reached && (end === null || placeOf(event) < end);
    const due = events.filter(wanted);
    joiner.eventsMore = full && wanted(events.at(-1)!);
    const frames: string[] = [];
    let next = 0;
    const takeEventsBefore = (seq: number) => {
      for (; next < due.length && placeOf(due[next]!) < seq; next++) frames.push(this.eventFrame(joiner, due[next]!));
    };
    for (const place of page.places) {
      if (place.seq > reached) break;
      takeEventsBefore(place.seq);
      if (place.message) frames.push(serializeMessageEvent(this.port.roomId, place.message, source));
    }
    takeEventsBefore(Infinity);
    const last = due.at(-1);
    if (last) joiner.eventsAfter = { seq: placeOf(last), id: last.id };
    if (!(await this.sendPaced(joiner, frames))) return false;
    joiner.cursor = Math.max(joiner.cursor, reached);
    return true;
  }

  private eventFrame(joiner: Joiner, event: StoredRoomEvent): string {
    joiner.sentEvents.add(event.id);
    return roomEventFrame(event.type, this.port.roomId, event.id, event.payload);
  }

  /** One frame at a time, each once the socket's buffer is low enough: a reader is never closed for a large backlog. */
  private async sendPaced(joiner: Joiner, frames: readonly string[]): Promise<boolean> {
    for (const frame of frames) {
      if (!(await this.port.drained(joiner.ws)) || joiner.done || !this.port.send(joiner.ws, [frame])) {
        this.dropJoiner(joiner);
        return false;
      }
    }
    return true;
  }

  /** Synchronous: what was captured for it, then the topic. Nothing is delivered in between. */
  private goLive(joiner: Joiner): void {
    const frames: string[] = [];
    for (const event of joiner.held) {
      if (!needed(event, joiner.cursor) || event.kind === 'skip') continue;
      if (event.kind === 'other' && event.route.eventId !== null && joiner.sentEvents.has(event.route.eventId)) continue; // it had it from a read
      frames.push(event.frame);
    }
    this.dropJoiner(joiner);
    if (!this.port.send(joiner.ws, frames)) return;
    this.live.set(joiner.ws, { userId: joiner.userId, membershipId: joiner.membershipId! });
    this.port.subscribe(joiner.ws);
    for (const id of joiner.sentEvents) {
      if (this.knownEvents.get(id) === 'handed on') continue;
      const sockets = this.readBeforeLive.get(id);
      if (sockets) sockets.add(joiner.ws);
      else this.readBeforeLive.set(id, new Set([joiner.ws]));
      if (this.readBeforeLive.size > MAX_KNOWN_EVENTS) this.readBeforeLive.delete(this.readBeforeLive.keys().next().value!);
    }
  }

  /** Drops what a joiner captured that its snapshot already covers. */
  private prune(joiner: Joiner): void {
    const from = joiner.liveAfter!;
    joiner.held = joiner.held.filter((event) => needed(event, from));
    joiner.heldBytes = joiner.held.reduce((sum, event) => sum + frameBytes(event), 0);
  }

  private capture(event: RoomEvent): void {
    for (const joiner of this.joiners) {
      if (joiner.heldFrom === null) continue; // the room has not started: nothing was delivered before this
      if (joiner.liveAfter !== null && !needed(event, joiner.liveAfter)) continue;
      const read = this.handingOnRead;
      if (read && !(joiner.membershipId !== null && read.has(`${joiner.userId}:${joiner.membershipId}`))) joiner.uncheckedCaptures++;
      joiner.held.push(event);
      joiner.heldBytes += frameBytes(event);
      if (joiner.heldBytes > this.settings.maxHeldBytes) {
        // Too much to keep in memory for a slow joiner: it reads this stretch from PostgreSQL.
        joiner.held = [];
        joiner.heldBytes = 0;
        joiner.heldFrom = this.handedOn;
        joiner.captureDrops++;
      }
    }
  }

  // ---- handing on ----

  private handOn(events: Emitted): void {
    for (const event of events) {
      if (this.closed) return; // its last socket left while this went out (a slow consumer closed)
      switch (event.kind) {
        case 'message':
          this.handedOn = event.seq;
          this.port.publish(event.frame);
          this.capture(event);
          this.port.delivered?.(event.route);
          break;
        case 'gap':
          this.handedOn = event.toSeq;
          this.port.publish(event.frame);
          this.capture(event);
          this.port.count?.('gap_notice');
          break;
        case 'other':
          if (event.route.type === 'member.removed' && event.route.userId) {
            // Already read back from PostgreSQL and told: this is the same removal heard live.
            if (this.removalApplied(event.route.userId, event.route.membershipId)) continue;
            this.remove(event.route.userId, event.route.membershipId, event.frame, event.seq);
          }
          this.publishEvent(event);
          this.capture(event);
          this.port.delivered?.(event.route);
          break;
        case 'skip':
          this.handedOn = event.seq;
          break;
      }
      // Per event, not per batch: the order's `delivered` is already past the whole batch.
      if (event.kind !== 'other') this.reached(this.handedOn);
    }
  }

  /** To every live socket, but not again to one that read it before it went live. */
  private publishEvent(event: Extract<RoomEvent, { kind: 'other' }>): void {
    if (event.route.eventId !== null && this.knownEvents.has(event.route.eventId)) this.knownEvents.set(event.route.eventId, 'handed on');
    const readBy = event.route.eventId === null ? undefined : this.readBeforeLive.get(event.route.eventId);
    if (!readBy) return this.port.publish(event.frame);
    this.readBeforeLive.delete(event.route.eventId!);
    for (const ws of this.live.keys()) if (!readBy.has(ws)) this.port.send(ws, [event.frame]);
  }

  /** The room's delivery reached `seq`: removals placed there take effect, joiners waiting for it go live. */
  private reached(seq: number): void {
    if (this.pendingRemovals.length) {
      const due = this.pendingRemovals.filter((removal) => removal.removedAfterSeq! <= seq);
      if (due.length) {
        this.pendingRemovals = this.pendingRemovals.filter((removal) => removal.removedAfterSeq! > seq);
        for (const removal of due) this.removeAndTell(removal);
      }
    }
    for (const joiner of this.joiners) {
      if (joiner.waitingFor === null || joiner.waitingFor > seq) continue;
      if (this.needsCheck(joiner)) {
        joiner.waitingFor = null;
        this.drive(joiner); // checks its membership first, then goes live
      } else this.goLive(joiner);
    }
  }

  /**
   * Takes the sockets of one membership out of the room, telling them first. A removal
   * without a membership id (from an older writer) takes all of the user's sockets.
   */
  private remove(userId: string, membershipId: number | null, frame: string, seq: number | null): void {
    if (membershipId !== null) this.rememberRemoval(userId, membershipId);
    const matches = (id: number | null) => membershipId === null || id === membershipId;
    for (const [ws, socket] of this.live) {
      if (socket.userId !== userId || !matches(socket.membershipId)) continue;
      this.port.send(ws, [frame]);
      this.live.delete(ws);
      this.port.unsubscribe(ws);
      this.port.forget(ws);
    }
    for (const joiner of this.joiners) {
      if (joiner.userId !== userId) continue;
      if (joiner.membershipId === null) {
        joiner.removalsSeen.push(membershipId);
        continue;
      }
      if (!matches(joiner.membershipId)) continue;
      // Not told it joined yet (its room was starting): the join is refused instead.
      if (!joiner.opened) this.dropJoiner(joiner);
      else this.endMembership(joiner, seq);
    }
  }

  private rememberRemoval(userId: string, membershipId: number): void {
    if (this.appliedRemovals.size >= 1000) this.appliedRemovals.clear();
    this.appliedRemovals.add(`${userId}:${membershipId}`);
  }

  private removalApplied(userId: string, membershipId: number | null): boolean {
    return membershipId !== null && this.appliedRemovals.has(`${userId}:${membershipId}`);
  }

  /**
   * A removal learnt from PostgreSQL (its event never came, or not yet): the room is told
   * too, once. Where its place is no longer known it takes effect now: live sockets where
   * the room is, joiners where they are. With its event's id, a copy heard live or read back
   * later is dropped, and a joiner that read it is not sent it again.
   */
  private removeAndTell(removal: EndedMembership): void {
    if (this.removalApplied(removal.userId, removal.membershipId)) return;
    const place = removal.removedAfterSeq ?? this.order.delivered;
    const frame = serializeRoomEvent(
      'member.removed',
      this.port.roomId,
      { user_id: removal.userId, membership_id: removal.membershipId },
      place,
      undefined,
      removal.eventId,
    );
    const route = routeOf(frame)!;
    this.seenBefore(route);
    this.remove(removal.userId, removal.membershipId, frame, removal.removedAfterSeq);
    const event = { kind: 'other' as const, seq: place, frame, route };
    this.publishEvent(event);
    this.capture(event);
  }

  // ---- gaps ----

  private watchForGap(): void {
    if (this.holdTimer || this.filling || this.closed) return;
    const gap = this.missing();
    this.noteGap(gap);
    if (!gap) return;
    this.holdTimer = this.port.setTimer(this.settings.holdMs, () => {
      this.holdTimer = null;
      if (this.missing()) void this.fill();
    });
  }

  /** What the room waits for: a gap in its order, or the messages up to a removal read back. */
  private missing(): { fromSeq: number; toSeq: number | null } | null {
    const gap = this.order.gap();
    const delivered = this.order.delivered;
    if (gap || delivered === null || this.pendingRemovals.length === 0) return gap;
    const furthest = Math.max(...this.pendingRemovals.map((removal) => removal.removedAfterSeq!));
    return furthest > delivered ? { fromSeq: delivered + 1, toSeq: furthest } : null;
  }

  /** The gap timeout counts from when the current gap (by where it starts) opened. */
  private noteGap(gap: { fromSeq: number } | null): void {
    if (!gap) {
      this.gapSince = null;
      this.gapFrom = null;
    } else if (this.gapSince === null || this.gapFrom !== gap.fromSeq) {
      this.gapSince = this.port.now();
      this.gapFrom = gap.fromSeq;
    }
  }

  private memberships(): Membership[] {
    const seen = new Map<string, Membership>();
    const add = (userId: string, membershipId: number) => seen.set(`${userId}:${membershipId}`, { userId, membershipId });
    for (const socket of this.live.values()) add(socket.userId, socket.membershipId);
    for (const joiner of this.joiners) if (joiner.membershipId !== null) add(joiner.userId, joiner.membershipId);
    return [...seen.values()];
  }

  /** Reads back from PostgreSQL what the room is missing, one read at a time, until nothing is. */
  private fill(): Promise<void> {
    if (this.filling) {
      this.fillAgain = true;
      return this.filling;
    }
    this.filling = this.runFill()
      .catch((err: unknown) => this.port.logger.error({ roomId: this.port.roomId, err }, 'reading a gap failed unexpectedly'))
      .finally(() => {
        this.filling = null;
        this.watchForGap();
      });
    return this.filling;
  }

  private async runFill(): Promise<void> {
    let readBack = 0;
    try {
      await this.fillLoop((count) => (readBack += count));
    } finally {
      if (readBack > 0)
        this.port.logger.info({ roomId: this.port.roomId, messages: readBack, deliveredSeq: this.order.delivered }, 'caught up from PostgreSQL');
    }
  }

  private async fillLoop(onDelivered: (count: number) => void): Promise<void> {
    let failures = 0;
    let failingSince: number | null = null;
    while (!this.closed) {
      this.fillAgain = false;
      const delivered = this.order.delivered;
      if (delivered === null) return; // open() reads once the room has started
      const verifying = this.verifiedGeneration < this.verifyGeneration;
      const gap = this.missing();
      this.noteGap(gap);
      const toEnd = this.readToEnd || verifying || (gap !== null && gap.toSeq === null);
      if (!toEnd && !gap) return;
      const upTo = toEnd ? null : gap!.toSeq;
      const generation = this.verifyGeneration;
      const request = this.readToEndRequests;
      const mark = this.order.dropMark();
      const asked = this.memberships();
      let read: RoomGap;
      try {
        this.port.count?.('gap_read');
        read = await this.port.readGap(delivered, upTo, asked);
      } catch (err) {
        if (this.closed) return;
        failures++;
        failingSince ??= this.port.now();
        this.giveUpOnGapIfOverdue();
        if (failures === 1 || failures % 20 === 0)
          this.port.logger.warn({ roomId: this.port.roomId, err, failures }, 'reading a gap from PostgreSQL failed; retrying');
        await this.port.sleep(this.retryDelay(this.port.now() - failingSince));
        continue;
      }
      if (this.closed) return;
      failures = 0;
      failingSince = null;
      this.applyEnded(read.ended);
      // A read hands on messages the bus has not brought (yet): only if it checked every
      // membership here, or a socket that came meanwhile could get messages past a removal
      // whose event is still on its way (or was lost). It is asked on the next read.
      const askedKeys = new Set(asked.map((m) => `${m.userId}:${m.membershipId}`));
      if (!this.memberships().every((m) => askedKeys.has(`${m.userId}:${m.membershipId}`))) continue;
      for (const joiner of this.joiners) {
        if (joiner.membershipId !== null) joiner.checkedGeneration = Math.max(joiner.checkedGeneration, generation);
      }
      // After a bus drop nothing goes out until a read issued since the drop checked them all;
      // what it read goes in first, so that what was held meanwhile follows it in place.
      const resuming = this.verifiedGeneration < generation && generation === this.verifyGeneration;
      if (resuming) this.verifiedGeneration = generation;
      const before = this.order.delivered;
      this.handingOnRead = askedKeys;
      try {
        // Events first: each waits in the order for the message it follows (this page's, one
        // held, or one a later page reads), so nothing held goes out ahead of it.
        for (const stored of read.events) {
          const frame = roomEventFrame(stored.type, this.port.roomId, stored.id, stored.payload);
          const route = routeOf(frame);
          if (!route || route.seq === null || this.seenBefore(route)) continue;
          this.handOn(this.order.offer({ kind: 'other', seq: route.seq, frame, route }));
        }
        for (const place of read.page.places) this.handOn(this.order.offer(this.eventOf(place)));
        if (resuming) this.handOn(this.order.resume());
      } finally {
        this.handingOnRead = null;
      }
      onDelivered(this.order.delivered! - before!);
      const reachedEnd = read.page.complete;
      if (reachedEnd && upTo === null) {
        if (generation === this.verifyGeneration && request === this.readToEndRequests) this.readToEnd = false;
        this.order.readThrough(mark);
      }
      if (reachedEnd && upTo !== null && this.order.delivered === before && !this.fillAgain) {
        // The missing messages are not in PostgreSQL (yet?): wait and look again, within the bound.
        failingSince ??= this.port.now();
        if (!this.giveUpOnGapIfOverdue()) await this.port.sleep(this.retryDelay(this.port.now() - failingSince));
      }
    }
  }

  /** Past the gap timeout with messages held behind the gap: tell the clients and go on. */
  private giveUpOnGapIfOverdue(): boolean {
    // Not while memberships are unchecked after a bus drop: nothing may go out then.
    if (this.verifiedGeneration < this.verifyGeneration) return false;
    const gap = this.missing();
    if (!gap || gap.toSeq === null || this.gapSince === null) return false;
    if (this.port.now() - this.gapSince < this.settings.gapTimeoutMs) return false;
    this.port.logger.error(
      { roomId: this.port.roomId, fromSeq: gap.fromSeq, toSeq: gap.toSeq },
      'could not read a gap from PostgreSQL in time; clients are told',
    );
    this.handOn(this.order.skipGap(gap.toSeq, serializeGapEvent(this.port.roomId, gap.fromSeq, gap.toSeq)));
    this.gapSince = null;
    return true;
  }

  private applyEnded(ended: readonly EndedMembership[]): void {
    const delivered = this.order.delivered!;
    for (const removal of ended) {
      const pending = this.pendingRemovals.some((p) => p.userId === removal.userId && p.membershipId === removal.membershipId);
      if (pending) continue;
      if (removal.removedAfterSeq !== null && removal.removedAfterSeq > delivered) this.pendingRemovals.push(removal);
      else this.removeAndTell(removal);
    }
  }

  private retryDelay(failingForMs: number): number {
    return Math.min(2000, 100 * 2 ** Math.floor(failingForMs / 1000));
  }

  // ---- places read back ----

  private eventOf(place: StoredPlace): RoomEvent {
    if (!place.message) return { kind: 'skip', seq: place.seq };
    const route: EventRoute = {
      roomId: this.port.roomId,
      type: 'message.created',
      messageId: place.message.id,
      seq: place.seq,
      publishedAtMs: null,
      userId: null,
      membershipId: null,
      eventId: null,
    };
    return { kind: 'message', seq: place.seq, frame: serializeMessageEvent(this.port.roomId, place.message, 'live'), route };
  }
}
