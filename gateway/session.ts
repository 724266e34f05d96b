// Per-connection state (the uWS socket's user data) and safe sending to it.
import type { UWS } from './uws';
import { createTokenBucket, type TokenBucket } from './rate-limit';

export interface Session {
  userId: string | null;
  /** Rooms this socket joined (the only rooms it may send to or ack), with the membership it joined under. */
  rooms: Map<string, number>;
  bucket: TokenBucket;
  /** Ops start one after another per connection, in the order they arrived (see dispatch.ts). */
  queue: Promise<void>;
  /** Their replies, sent in that order. */
  replies: Promise<void>;
  closed: boolean;
  authTimer: NodeJS.Timeout | null;
  /** Closes the socket when its token expires (RS256 tokens with `exp`). */
  expiryTimer: NodeJS.Timeout | null;
  /** Paced senders waiting for the socket's buffer to drain (see drained()). */
  drainWaiters: Array<() => void>;
  // The two below are made on first use: most sockets never type or ack, and a gateway
  // holds tens of thousands of sessions (each empty Map is a few hundred bytes of heap).
  /** When this socket last sent a typing event, per room (ops/ephemeral.ts). */
  typingAt: Map<string, number> | null;
  /** Read receipts per room: the position last told, when, the latest stored, and the pending send. */
  receipts: Map<string, ReceiptState> | null;
}

export interface ReceiptState {
  sent: number;
  sentAt: number;
  latest: number;
  timer: NodeJS.Timeout | null;
}

export type Socket = UWS.WebSocket<Session>;

export function newSession(rlCapacity: number): Session {
  return {
    userId: null,
    rooms: new Map(),
    bucket: createTokenBucket(rlCapacity, Date.now()),
    queue: Promise.resolve(),
    replies: Promise.resolve(),
    closed: false,
    authTimer: null,
    expiryTimer: null,
    drainWaiters: [],
    typingAt: null,
    receipts: null,
  };
}

export const CLOSE_SLOW_CONSUMER = 4008;

/**
 * Sends frames in one corked write. A socket over its send high-water mark is closed
 * (uWS drops what it cannot buffer; a client that silently missed messages is worse
 * than one that reconnects and resumes). Returns false if the socket is gone.
 */
export function sendFrames(ws: Socket, frames: readonly string[], onSlowConsumer: () => void): boolean {
  const session = ws.getUserData();
  if (session.closed) return false;
  if (frames.length === 0) return true;
  let dropped = false;
  ws.cork(() => {
    for (const frame of frames) {
      if (ws.send(frame, false, false) === 2) {
        dropped = true;
        break;
      }
    }
  });
  if (dropped && !session.closed) {
    onSlowConsumer();
    ws.end(CLOSE_SLOW_CONSUMER, 'slow consumer');
    return false;
  }
  return !session.closed;
}

/**
 * Resolves true once the socket has at most `lowWater` bytes buffered (at once if it has),
 * false if it closes first. Backfill pages wait on this, so a large backlog is sent at
 * the reader's pace instead of tripping the slow-consumer close.
 */
export function drained(ws: Socket, lowWater: number): Promise<boolean> {
  const session = ws.getUserData();
  if (session.closed) return Promise.resolve(false);
  if (ws.getBufferedAmount() <= lowWater) return Promise.resolve(true);
  return new Promise((resolve) => session.drainWaiters.push(() => resolve(!session.closed)));
}

/** From uWS's drain callback (and on close): wakes the paced senders once the buffer is low enough. */
export function wakeDrainWaiters(ws: Socket, lowWater: number): void {
  const session = ws.getUserData();
  if (session.drainWaiters.length === 0) return;
  if (!session.closed && ws.getBufferedAmount() > lowWater) return;
  const waiters = session.drainWaiters.splice(0);
  for (const wake of waiters) wake();
}
