/**
 * Delay before retry number `attempt` (1 = after the first failure): exponential from
 * `baseMs`, capped at `capMs`, with "equal jitter" — half fixed, half random — so
 * retries spread out but never come sooner than half the nominal delay.
 */
export function backoffDelayMs(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const nominal = Math.min(capMs, baseMs * 2 ** exponent);
  return Math.round(nominal / 2 + random() * (nominal / 2));
}
