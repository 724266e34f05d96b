import { describe, expect, it } from 'vitest';
import { createTokenBucket, takeToken } from './rate-limit';

describe('token bucket', () => {
  it('allows exactly capacity ops at once, then refuses', () => {
    const bucket = createTokenBucket(30, 0);
    const results = Array.from({ length: 31 }, () => takeToken(bucket, 30, 10_000, 0));
    expect(results.filter(Boolean)).toHaveLength(30);
    expect(results[30]).toBe(false);
  });

  it('refills continuously at capacity per refill period', () => {
    const bucket = createTokenBucket(30, 0);
    for (let i = 0; i < 30; i++) takeToken(bucket, 30, 10_000, 0);
    expect(takeToken(bucket, 30, 10_000, 300)).toBe(false); // 0.9 of a token
    expect(takeToken(bucket, 30, 10_000, 334)).toBe(true); // one token after 1/30 of 10 s
    expect(takeToken(bucket, 30, 10_000, 334)).toBe(false);
  });

  it('never holds more than its capacity however long it rests', () => {
    const bucket = createTokenBucket(5, 0);
    const later = 1_000_000;
    const results = Array.from({ length: 6 }, () => takeToken(bucket, 5, 1000, later));
    expect(results.filter(Boolean)).toHaveLength(5);
  });

  it('is not fooled by a clock that goes backwards', () => {
    const bucket = createTokenBucket(1, 1000);
    expect(takeToken(bucket, 1, 1000, 1000)).toBe(true);
    expect(takeToken(bucket, 1, 1000, 0)).toBe(false);
  });
});
