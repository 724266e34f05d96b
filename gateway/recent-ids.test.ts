import { describe, expect, it } from 'vitest';
import { RecentIds } from './recent-ids';

describe('RecentIds', () => {
  it('reports a repeated id as seen', () => {
    const ids = new RecentIds(4);
    expect(ids.add(1)).toBe(true);
    expect(ids.add(2)).toBe(true);
    expect(ids.add(1)).toBe(false);
  });

  it('forgets the oldest ids beyond its capacity', () => {
    const ids = new RecentIds(3);
    for (const id of [1, 2, 3, 4]) ids.add(id);
    expect(ids.add(1)).toBe(true); // evicted, so new again
    expect(ids.add(4)).toBe(false);
  });
});
