import * as hdr from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import { formatNumber, formatRatio, median, ratio, summarizeMicros } from './stats';

describe('summarizeMicros', () => {
  it('reports percentiles of microsecond samples in milliseconds', () => {
    const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
    for (let i = 1; i <= 1000; i++) h.recordValue(i * 1000); // 1 ms .. 1000 ms
    const s = summarizeMicros(h);
    expect(s.count).toBe(1000);
    expect(s.p50).toBeCloseTo(500, -1);
    expect(s.p99).toBeCloseTo(990, -1);
    expect(s.p999).toBeCloseTo(999, -1);
    expect(s.max).toBeCloseTo(1000, -1);
  });

  it('gives NaN, not zero, for an empty histogram', () => {
    const s = summarizeMicros(hdr.build());
    expect(s.count).toBe(0);
    expect(s.p99).toBeNaN();
  });
});

describe('ratio and median', () => {
  it('divides ours by theirs', () => {
    expect(ratio(300, 100)).toBe(3);
  });

  it('is NaN when a side is missing or zero, so it can never pass a gate by accident', () => {
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(NaN, 1)).toBeNaN();
    expect(ratio(1, Infinity)).toBeNaN();
  });

  it('takes the middle of the finite values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, NaN, 1, 3])).toBe(3);
    expect(median([])).toBeNaN();
  });
});

describe('formatting', () => {
  it('keeps three significant digits and groups thousands', () => {
    expect(formatNumber(123456.7)).toBe('123,457');
    expect(formatNumber(1.23456)).toBe('1.23');
    expect(formatNumber(0.045678)).toBe('0.0457');
    expect(formatNumber(NaN)).toBe('—');
    expect(formatRatio(3.14159)).toBe('3.14×');
    expect(formatRatio(12.34)).toBe('12.3×');
  });
});
