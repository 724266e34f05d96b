// When each message is meant to be sent. At a fixed offered rate the sender follows a
// timetable and latency is measured from the *intended* send time, so a stalled
// sender or server shows up as latency instead of silently lowering the rate
// (coordinated omission). Pure.

export interface Timetable {
  /** Epoch ms of the first send. */
  startMs: number;
  /** Messages per second for this sender. */
  rate: number;
  /** No sends intended at or after this epoch ms. */
  endMs: number;
}

/** Intended epoch ms of send number `k` (0-based). */
export function intendedAt(t: Timetable, k: number): number {
  return t.startMs + (k * 1000) / t.rate;
}

/** How many sends are due by `nowMs` (all intended times ≤ now and < end). */
export function dueCount(t: Timetable, nowMs: number): number {
  if (nowMs < t.startMs) return 0;
  const byNow = Math.floor(((nowMs - t.startMs) * t.rate) / 1000) + 1;
  const total = Math.ceil(((t.endMs - t.startMs) * t.rate) / 1000);
  return Math.min(byNow, total);
}
