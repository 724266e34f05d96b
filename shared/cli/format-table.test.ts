import { describe, expect, it } from 'vitest';
import { formatAge, formatTable } from './format-table';
import { formatStats } from '../../worker/outbox/ops/outbox-report';

describe('formatAge', () => {
  it('reads at a glance at every scale', () => {
    expect(formatAge(0.42)).toBe('0.4s');
    expect(formatAge(42)).toBe('42s');
    expect(formatAge(303)).toBe('5m 03s');
    expect(formatAge(7800)).toBe('2h 10m');
    expect(formatAge(4 * 86_400 + 3 * 3600 + 59)).toBe('4d 03h');
  });
});

describe('formatTable / formatStats', () => {
  it('aligns columns: names left, numbers right', () => {
    expect(
      formatTable(
        ['TYPE', 'N'],
        [
          ['a', '1'],
          ['longer', '100'],
        ],
      ),
    ).toBe('TYPE      N\na         1\nlonger  100');
  });

  it('prints a row per type and a total with the oldest pending age', () => {
    const text = formatStats([
      { type: 'document.preprocess.v1', pending: 1, in_progress: 0, published: 3, dead: 2, oldest_pending_seconds: 125 },
      { type: 'message.created', pending: 0, in_progress: 4, published: 9000, dead: 0, oldest_pending_seconds: null },
    ]);
    expect(text.split('\n')).toEqual([
      'TYPE                    PENDING  IN_PROGRESS  PUBLISHED  DEAD  OLDEST_PENDING',
      'document.preprocess.v1        1            0          3     2          2m 05s',
      'message.created               0            4       9000     0               -',
      'TOTAL                         1            4       9003     2          2m 05s',
    ]);
    expect(formatStats([])).toBe('The outbox is empty.');
  });
});
