import { describe, expect, it } from 'vitest';
import { dueCount, intendedAt } from './timetable';

describe('timetable', () => {
  const t = { startMs: 1000, rate: 100, endMs: 2000 }; // one send every 10 ms for 1 s

  it('spaces intended send times evenly from the start', () => {
    expect(intendedAt(t, 0)).toBe(1000);
    expect(intendedAt(t, 5)).toBe(1050);
  });

  it('counts what is due by now, including sends a stalled sender missed', () => {
    expect(dueCount(t, 999)).toBe(0);
    expect(dueCount(t, 1000)).toBe(1);
    expect(dueCount(t, 1055)).toBe(6); // a sender waking late sends all six, each stamped with its intended time
  });

  it('never schedules past the end', () => {
    expect(dueCount(t, 5000)).toBe(100);
  });
});
