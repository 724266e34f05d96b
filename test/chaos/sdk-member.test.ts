// What the chaos run's SDK members are judged by (sdk-member.ts: check), on hand-made records.
import { describe, expect, it } from 'vitest';
import { createRandom } from '../support/frame-fuzzer';
import { SdkMember } from './sdk-member';
import type { StoredMessage } from './trace';

const ROOM = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';

function member(seen: number[], sends: { made: number; resolved: number }) {
  const m = new SdkMember({ label: 'r1sdk', userId: 'u', roomId: ROOM, pickGateway: () => null, random: createRandom(1), sendIntervalMs: 100 });
  m.close();
  m.seen.push(...seen);
  Object.assign(m.sends, sends);
  return m;
}
const stored = (roomId: string, seq: number, content: Record<string, unknown> = {}): StoredMessage => ({
  id: seq,
  roomId,
  seq,
  userId: 'x',
  content,
  createdAt: 0,
});
const room = [stored(ROOM, 1), stored(ROOM, 2, { sdk: 'r1sdk', n: 1 }), stored(ROOM, 3), stored(OTHER, 1, { sdk: 'r1sdk', n: 9 })];

describe('chaos SDK member check', () => {
  it('passes every message of its room once, in order, and each resolved send stored once', () => {
    expect(member([1, 2, 3], { made: 1, resolved: 1 }).check(room.slice(0, 3))).toEqual([]);
  });

  it('fails a duplicate, a reorder, a missing message and a send stored twice', () => {
    const details = (m: SdkMember, s = room.slice(0, 3)) =>
      m
        .check(s)
        .map((f) => f.detail)
        .join('\n');
    expect(details(member([1, 2, 2, 3], { made: 1, resolved: 1 }))).toMatch(/seq 2 after seq 2/);
    expect(details(member([1, 3, 2], { made: 1, resolved: 1 }))).toMatch(/seq 2 after seq 3/);
    expect(details(member([1, 3], { made: 1, resolved: 1 }))).toMatch(/never got 1 of the room's 3 messages \(seq 2\)/);
    expect(details(member([1, 2, 3], { made: 1, resolved: 1 }), [...room.slice(0, 3), stored(ROOM, 4, { sdk: 'r1sdk', n: 1 })])).toMatch(
      /stored more than once: 1/,
    );
    expect(details(member([1, 2, 3], { made: 2, resolved: 1 }))).toMatch(/1 sends never answered/);
  });
});
