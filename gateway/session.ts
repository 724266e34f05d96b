// Per-connection state (the uWS socket's user data) and safe sending to it.
import type { UWS } from './uws';
import { createTokenBucket, type TokenBucket } from './rate-limit';

export interface Session {
  userId: string | null;
  /** Rooms this socket joined: the only rooms it may send to or ack. */
  rooms: Set<string>;
  bucket: TokenBucket;
  /** Ops run one after another per connection, in the order they arrived. */
  queue: Promise<void>;
  closed: boolean;
  authTimer: NodeJS.Timeout | null;
}

export type Socket = UWS.WebSocket<Session>;

export function newSession(rlCapacity: number): Session {
  return { userId: null, rooms: new Set(), bucket: createTokenBucket(rlCapacity, Date.now()), queue: Promise.resolve(), closed: false, authTimer: null };
}

export const CLOSE_SLOW_CONSUMER = 4008;

/**
 * Sends frames in one corked write. A socket over its send high-water mark is closed
 * (uWS drops what it cannot buffer; a client that silently missed messages is worse
 * than one that reconnects and backfills). Returns false if the socket is gone.
 */
export function sendFrames(ws: Socket, frames: readonly string[], onSlowConsumer: () => void): boolean {
  const session = ws.getUserData();
  if (session.closed) return false;
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
