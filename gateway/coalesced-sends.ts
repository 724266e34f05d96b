// Send replies, held to the end of the event loop's turn and written per socket together:
// one commit answers many sends at once, often several of one connection, and each write
// to a socket is a system call. Anything else sent to a socket first writes what it holds,
// so a socket's frames keep their order.
import type { Socket } from './session';

export interface CoalescedSends {
  /** Queues a frame for `ws`, written with its others of this turn. */
  later(ws: Socket, frame: string): void;
  /** Writes what is queued for `ws` now (before a frame that must follow it). */
  flush(ws: Socket): void;
}

export function createCoalescedSends(sendNow: (ws: Socket, frames: readonly string[]) => void): CoalescedSends {
  const queued = new Map<Socket, string[]>();
  const flushAll = () => {
    for (const [ws, frames] of queued) {
      queued.delete(ws);
      sendNow(ws, frames);
    }
  };
  return {
    later(ws, frame) {
      const frames = queued.get(ws);
      if (frames) frames.push(frame);
      else {
        if (queued.size === 0) setImmediate(flushAll);
        queued.set(ws, [frame]);
      }
    },
    flush(ws) {
      const frames = queued.get(ws);
      if (!frames) return;
      queued.delete(ws);
      sendNow(ws, frames);
    },
  };
}
