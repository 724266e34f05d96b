import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff';

describe('backoffDelayMs', () => {
  it('doubles per attempt from the base, between half and all of the nominal delay', () => {
    expect(backoffDelayMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffDelayMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffDelayMs(2, 1000, 60_000, () => 1)).toBe(2000);
    expect(backoffDelayMs(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(backoffDelayMs(4, 1000, 60_000, () => 0)).toBe(4000);
  });

  it('is capped', () => {
    expect(backoffDelayMs(30, 1000, 60_000, () => 1)).toBe(60_000);
    expect(backoffDelayMs(1000, 1000, 60_000, () => 0.5)).toBe(45_000);
  });

  it('spreads retries with jitter', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelayMs(5, 1000, 60_000)));
    expect(delays.size).toBeGreaterThan(10);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(8000);
      expect(d).toBeLessThanOrEqual(16_000);
    }
  });
});
