import { describe, expect, it } from 'vitest';
import { createOutboxWaker, type WakerClock } from './outbox-waker';

function fakeClock() {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let nextId = 1;
  const clock: WakerClock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (id) => {
      const i = timers.findIndex((t) => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  const advance = (ms: number) => {
    now += ms;
    for (const t of timers.filter((t) => t.at <= now).sort((a, b) => a.at - b.at)) {
      timers.splice(timers.indexOf(t), 1);
      t.fn();
    }
  };
  return { clock, advance, pending: () => timers.length };
}

describe('outbox waker', () => {
  it('lets an isolated send notify in its own transaction', () => {
    const { clock, advance } = fakeClock();
    const waker = createOutboxWaker(5, () => {}, clock);
    expect(waker.notifyInline()).toBe(true);
    advance(10);
    expect(waker.notifyInline()).toBe(true);
  });

  it('follows every send of a burst with one NOTIFY after they committed, within the window', () => {
    const { clock, advance, pending } = fakeClock();
    let notified = 0;
    const waker = createOutboxWaker(5, () => notified++, clock);
    expect(waker.notifyInline()).toBe(true); // first send of the burst
    const skipped = [waker.notifyInline(), waker.notifyInline(), waker.notifyInline()];
    expect(skipped).toEqual([false, false, false]);
    advance(1);
    for (let i = 0; i < 3; i++) waker.committedWithoutNotify();
    expect(pending()).toBe(1); // one NOTIFY for the three
    advance(3);
    expect(notified).toBe(0);
    advance(1); // 5 ms after the inline notify
    expect(notified).toBe(1);
  });

  it('never notifies before a commit it follows', () => {
    const { clock, advance } = fakeClock();
    const notifiedAt: number[] = [];
    let t = 0;
    const waker = createOutboxWaker(5, () => notifiedAt.push(t), clock);
    waker.notifyInline();
    advance(20);
    t = 20;
    expect(waker.notifyInline()).toBe(true);
    expect(waker.notifyInline()).toBe(false);
    advance(30); // a slow commit: longer than the window
    t = 50;
    waker.committedWithoutNotify(); // the window is long over: notify at once
    advance(0);
    expect(notifiedAt).toEqual([50]);
  });

  it('sends a pending NOTIFY at once when flushed (shutdown)', () => {
    const { clock, pending } = fakeClock();
    let notified = 0;
    const waker = createOutboxWaker(5, () => notified++, clock);
    waker.notifyInline();
    waker.notifyInline();
    waker.committedWithoutNotify();
    waker.flush();
    expect(notified).toBe(1);
    expect(pending()).toBe(0);
  });

  it('with a zero window, notifies inline every time', () => {
    const { clock } = fakeClock();
    const waker = createOutboxWaker(0, () => {}, clock);
    expect([waker.notifyInline(), waker.notifyInline()]).toEqual([true, true]);
  });
});
