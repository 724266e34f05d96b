// One room's delivery to the application: every message once, in seq order, with no gap,
// across reconnects. It relies on what the server promises per join (README: WebSocket
// protocol): from the join reply on, a connection brings the room's places after the
// reply's `after_seq` in order, none missing — except the stretch a `has_more` backfill
// leaves out (up to `last_seq`) and a `gap` notice's range. Those holes are filled from
// history; whatever comes live meanwhile waits, in arrival order, behind the fill. A new
// join (a reconnect) resumes after the last seq delivered; frames of an older join are
// ignored. A room event that comes twice (a join reads the events placed in its stretch, and
// one may also come live) is handed on once, by its `event_id`.
import type { Message, MessageSource } from './types';

// A server frame as parsed JSON; each reader checks the fields it uses.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StreamFrame = Record<string, any>;

/** The part of a history page the stream uses. */
export interface HistoryPage {
  messages: Message[];
  has_more: boolean;
  to_seq: number | null;
}

export interface RoomStreamPorts {
  /** Hands a message to the application. */
  deliver(message: Message, source: MessageSource): void;
  /** Hands any other room event (already in order with the messages) to the application. */
  event(frame: StreamFrame): void;
  /** History after `afterSeq`, oldest first (GET /v1/rooms/{id}/messages?after_seq=). */
  readHistory(afterSeq: number): Promise<HistoryPage>;
  /** A history read failed: it is retried after `retryInMs`. */
  fillFailed(err: unknown, retryInMs: number): void;
  sleep(ms: number): Promise<void>;
}

/** Room events remembered per room to drop a second copy. */
const RECENT_EVENTS = 1000;

export class RoomStream {
  /** Last seq handed to the application: a rejoin resumes after it. */
  delivered = 0;
  private join = 0;
  /** Filling from history up to this seq; live frames wait meanwhile. */
  private hole: number | null = null;
  private held: StreamFrame[] = [];
  private filling: Promise<void> | null = null;
  /** event_ids of the room events handed on lately (the oldest forgotten past RECENT_EVENTS). */
  private readonly recentEvents = new Set<number>();

  constructor(private readonly ports: RoomStreamPorts) {}

  /** A join reply: returns the token its frames carry. */
  joined(reply: { after_seq?: number; last_seq: number; has_more: boolean }): number {
    this.join++;
    this.held = [];
    this.hole = null;
    // The join's places start after its after_seq: nothing before it belongs to it.
    if (typeof reply.after_seq === 'number' && reply.after_seq > this.delivered) this.delivered = reply.after_seq;
    if (reply.has_more && reply.last_seq > this.delivered) this.openHole(reply.last_seq);
    return this.join;
  }

  /** The connection of the current join is gone: its frames and fill are over. */
  left(): void {
    this.join++;
    this.held = [];
    this.hole = null;
  }

  /** A frame of join `token`, in arrival order. */
  frame(token: number, frame: StreamFrame): void {
    if (token !== this.join) return;
    if (frame.type === 'gap') {
      const toSeq = Number(frame.to_seq);
      if (this.hole === null) {
        if (toSeq > this.delivered) this.openHole(toSeq);
      } else this.held.push(frame); // after the current hole: its range is read then
      return;
    }
    if (this.hole !== null) {
      // A backfill message before the hole goes out now; everything after it waits.
      const seq = frame.type === 'message.created' ? Number(frame.message?.seq) : null;
      if (seq !== null && seq <= this.hole && frame.source === 'backfill') this.take(frame);
      else this.held.push(frame);
      return;
    }
    this.take(frame);
  }

  /** Resolves when no history fill is running (tests). */
  settled(): Promise<void> {
    return this.filling ?? Promise.resolve();
  }

  private take(frame: StreamFrame): void {
    if (frame.type === 'message.created') {
      const message = frame.message as Message;
      if (typeof message?.seq !== 'number' || message.seq <= this.delivered) return; // already delivered
      this.delivered = message.seq;
      this.ports.deliver(message, frame.source === 'backfill' ? 'backfill' : 'live');
      return;
    }
    const id = frame.event_id;
    if (typeof id === 'number') {
      if (this.recentEvents.has(id)) return;
      this.recentEvents.add(id);
      if (this.recentEvents.size > RECENT_EVENTS) this.recentEvents.delete(this.recentEvents.values().next().value!);
    }
    this.ports.event(frame);
  }

  private openHole(upTo: number): void {
    this.hole = upTo;
    const join = this.join;
    this.filling = this.fill(join, upTo).finally(() => {
      if (this.join === join) this.filling = null;
    });
  }

  private async fill(join: number, upTo: number): Promise<void> {
    let failures = 0;
    while (this.join === join && this.delivered < upTo) {
      let page: HistoryPage;
      try {
        page = await this.ports.readHistory(this.delivered);
      } catch (err) {
        if (this.join !== join) return;
        const retryInMs = Math.min(5000, 200 * 2 ** failures++);
        this.ports.fillFailed(err, retryInMs);
        await this.ports.sleep(retryInMs);
        continue;
      }
      if (this.join !== join) return;
      failures = 0;
      for (const message of page.messages) {
        if (message.seq > upTo) break;
        if (message.seq > this.delivered) {
          this.delivered = message.seq;
          this.ports.deliver(message, 'history');
        }
      }
      // Deleted messages leave places without a message: the page's places count too.
      const covered = Math.min(page.to_seq ?? this.delivered, upTo);
      if (covered > this.delivered) this.delivered = covered;
      if (!page.has_more) break;
    }
    if (this.join !== join) return;
    this.hole = null;
    const held = this.held;
    this.held = [];
    // What waited goes out in arrival order; a gap notice among it opens the next hole.
    for (let i = 0; i < held.length; i++) {
      this.frame(join, held[i]!);
      if (this.hole !== null) {
        this.held.push(...held.slice(i + 1));
        return;
      }
    }
  }
}
