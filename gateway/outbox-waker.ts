// Wakes the outbox workers after sends without a NOTIFY per send. A NOTIFY per commit
// takes PostgreSQL's global notify lock at every commit and halved send throughput in
// bench/, so a send notifies inside its own transaction only if no notification went out
// in the last `windowMs`; a send that did not is followed, after it committed, by one
// standalone NOTIFY for all such sends of the window. Every message is thus followed by
// a NOTIFY issued after its commit, at most `windowMs` later.

export interface OutboxWaker {
  /** Before a send: should this send's own transaction notify? */
  notifyInline(): boolean;
  /** After a send that did not notify inline has committed. */
  committedWithoutNotify(): void;
  /** Sends a pending NOTIFY now (shutdown: committed messages must not wait for a poll). */
  flush(): void;
}

export interface WakerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: WakerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export function createOutboxWaker(windowMs: number, notify: () => void, clock: WakerClock = realClock): OutboxWaker {
  let lastNotifyAt = -Infinity;
  let pending: unknown = null;
  return {
    notifyInline() {
      const now = clock.now();
      if (now - lastNotifyAt < windowMs) return false;
      lastNotifyAt = now;
      return true;
    },
    committedWithoutNotify() {
      if (pending !== null) return; // a NOTIFY is already due after this commit
      const delay = Math.max(0, lastNotifyAt + windowMs - clock.now());
      pending = clock.setTimeout(() => {
        pending = null;
        lastNotifyAt = clock.now();
        notify();
      }, delay);
    },
    flush() {
      if (pending === null) return;
      clock.clearTimeout(pending);
      pending = null;
      lastNotifyAt = clock.now();
      notify();
    },
  };
}
