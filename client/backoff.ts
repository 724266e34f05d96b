/** Reconnect delays: exponential, capped, with full jitter, so clients cut off together do not come back together. */
export interface BackoffOptions {
  /** First delay's upper bound, ms. */
  baseMs: number;
  /** Largest upper bound, ms. */
  maxMs: number;
}

/** Delay before attempt `attempt` (0 = the first retry): uniform in [0, min(max, base·2^attempt)]. */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}
