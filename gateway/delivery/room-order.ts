// The delivery rule for one room on one gateway (docs/delivery.md), as a pure state
// machine: the next seq goes out; an older one is a duplicate and is dropped; a newer one
// is held until the ones before it have come (live, or read back from PostgreSQL).
// Other room events carry the seq of the message they follow and go out right after it.
import type { EventRoute } from '../../shared/protocol/events';

export type RoomEvent =
  /** message.created. */
  | { kind: 'message'; seq: number; frame: string; route: EventRoute }
  /** Any other room event: goes out right after message `seq` (at once when seq is null). */
  | { kind: 'other'; seq: number | null; frame: string; route: EventRoute }
  /** A deleted message read back from PostgreSQL: its place is taken, nothing is sent. */
  | { kind: 'skip'; seq: number }
  /** Messages fromSeq…toSeq could not be had: clients are told (gap notice), delivery goes on after toSeq. */
  | { kind: 'gap'; fromSeq: number; toSeq: number; frame: string };

/** Events in the order they are to be handed on. */
export type Emitted = RoomEvent[];

export interface RoomOrderOptions {
  /** Most messages held while waiting for an earlier one; past it, newer ones are dropped (they are in PostgreSQL). */
  maxEarly?: number;
}

export class RoomOrder {
  /** Last message seq handed on; null until the room's start is known (its first join). */
  delivered: number | null = null;
  /** Where this room entry started: events before it were history when the first member joined. */
  private start: number | null = null;
  /** Messages (and skips) that came before their turn, by seq. */
  private readonly early = new Map<number, Extract<RoomEvent, { kind: 'message' | 'skip' }>>();
  /** Other events waiting for the message they follow, by that message's seq. */
  private readonly waiting = new Map<number, Extract<RoomEvent, { kind: 'other' }>[]>();
  /** While paused nothing goes out (memberships are being checked after a bus reconnect). */
  private paused = false;
  /** Early messages dropped for want of room (they are in PostgreSQL): a gap read must not stop at the lowest held one. */
  private dropped = 0;
  private droppedBefore = 0;
  private readonly maxEarly: number;

  constructor(options: RoomOrderOptions = {}) {
    this.maxEarly = options.maxEarly ?? 10_000;
  }

  get started(): boolean {
    return this.delivered !== null;
  }

  /** Fixes where delivery starts (the first join's snapshot): messages up to `seq` are history. */
  begin(seq: number): Emitted {
    if (this.delivered !== null) return [];
    this.delivered = seq;
    this.start = seq;
    for (const held of this.early.keys()) if (held <= seq) this.early.delete(held);
    for (const position of this.waiting.keys()) if (position < seq) this.waiting.delete(position);
    return this.flush();
  }

  /** Whether message `seq` would go out at once, with nothing held before or after it. */
  isNext(seq: number): boolean {
    return this.delivered !== null && seq === this.delivered + 1 && !this.paused && this.early.size === 0 && this.waiting.size === 0;
  }

  /** Takes an event from the bus or from PostgreSQL; returns what can go out now, in order. */
  offer(event: RoomEvent): Emitted {
    if (event.kind === 'gap') return [event];
    if (event.kind === 'other') {
      if (event.seq === null) return this.paused ? this.hold(event, this.delivered ?? 0) : [event];
      if (this.start !== null && event.seq < this.start) return []; // before this room entry's first join: in its snapshot
      if (this.delivered !== null && event.seq <= this.delivered && !this.paused) return [event];
      return this.hold(event, event.seq);
    }
    if (this.delivered === null || event.seq > this.delivered + 1 || this.paused || this.early.size || this.waiting.size) {
      if (this.delivered !== null && event.seq <= this.delivered) return []; // a duplicate
      return this.holdEarly(event);
    }
    if (event.seq <= this.delivered) return []; // a duplicate
    this.delivered = event.seq; // in turn, nothing held: the common case
    return [event];
  }

  private holdEarly(event: Extract<RoomEvent, { kind: 'message' | 'skip' }>): Emitted {
    if (this.early.has(event.seq)) return [];
    // Full: newer ones are dropped (they are in PostgreSQL), but never the one in turn.
    if (this.early.size >= this.maxEarly && event.seq !== this.delivered! + 1) {
      this.dropped++;
      return [];
    }
    this.early.set(event.seq, event);
    return this.flush();
  }

  /** Holds everything until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): Emitted {
    this.paused = false;
    return this.flush();
  }

  /** The first missing range, when later messages are held: fromSeq…toSeq (toSeq null: unknown, after an overflow). */
  gap(): { fromSeq: number; toSeq: number | null } | null {
    if (this.delivered === null) return null;
    const overflowed = this.dropped > this.droppedBefore;
    if (this.early.has(this.delivered + 1)) return null; // paused, not missing
    const lowest = this.lowestEarly();
    if (overflowed) return { fromSeq: this.delivered + 1, toSeq: null };
    if (lowest !== null) return { fromSeq: this.delivered + 1, toSeq: lowest - 1 };
    // An event placed after a message that has not come: the messages up to it are missing.
    let furthest = this.delivered;
    for (const position of this.waiting.keys()) if (position > furthest) furthest = position;
    return furthest > this.delivered ? { fromSeq: this.delivered + 1, toSeq: furthest } : null;
  }

  /** A mark to pass to readThrough() once a gap read has gone past everything it had at the mark. */
  dropMark(): number {
    return this.dropped;
  }

  /** A gap read reached the end of the room: what was dropped up to `mark` has been read back. */
  readThrough(mark: number): void {
    this.droppedBefore = Math.max(this.droppedBefore, mark);
  }

  /** Gives up on messages up to `toSeq`: the gap notice goes out, then whatever follows. */
  skipGap(toSeq: number, frame: string): Emitted {
    if (this.delivered === null || toSeq <= this.delivered) return [];
    const fromSeq = this.delivered + 1;
    for (const held of this.early.keys()) if (held <= toSeq) this.early.delete(held);
    this.delivered = toSeq;
    const out: Emitted = [{ kind: 'gap', fromSeq, toSeq, frame }];
    return out.concat(this.flush());
  }

  private lowestEarly(): number | null {
    let lowest: number | null = null;
    for (const seq of this.early.keys()) if (lowest === null || seq < lowest) lowest = seq;
    return lowest;
  }

  private hold(event: Extract<RoomEvent, { kind: 'other' }>, position: number): Emitted {
    const list = this.waiting.get(position);
    if (list) list.push(event);
    else this.waiting.set(position, [event]);
    return this.flush();
  }

  /** Hands on everything that is now in turn. */
  private flush(): Emitted {
    if (this.paused || this.delivered === null) return [];
    const out: Emitted = [];
    this.takeWaitingUpTo(this.delivered, out);
    for (;;) {
      const next = this.early.get(this.delivered + 1);
      if (!next) break;
      this.early.delete(next.seq);
      this.delivered = next.seq;
      out.push(next);
      this.takeWaitingUpTo(next.seq, out);
    }
    return out;
  }

  /** Other events placed at or before `seq`, in their order (held while paused, or waiting for their message). */
  private takeWaitingUpTo(seq: number, out: Emitted): void {
    if (this.waiting.size === 0) return;
    const positions = [...this.waiting.keys()].filter((position) => position <= seq).sort((a, b) => a - b);
    for (const position of positions) {
      out.push(...this.waiting.get(position)!);
      this.waiting.delete(position);
    }
  }
}
