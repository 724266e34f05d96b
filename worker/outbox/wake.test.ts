import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createWakeSignal } from './wake';

describe('wake signal', () => {
  it('ends a sleep early when woken', async () => {
    const signal = createWakeSignal();
    const started = Date.now();
    const sleeping = signal.sleep(60_000);
    setTimeout(() => signal.wake(), 10);
    await sleeping;
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('remembers a wake that came while not sleeping, once', async () => {
    const signal = createWakeSignal();
    signal.wake();
    await signal.sleep(60_000); // returns at once
    let finished = false;
    void signal.sleep(20).then(() => (finished = true));
    await sleep(5);
    expect(finished).toBe(false);
  });
});
