// The room stream's rule on random schedules: whatever the joins deliver (backfill, live,
// has_more holes, gap notices, reconnects at any point, failing history reads), the
// application gets each message of the room once, in seq order, none missing.
import { describe, expect, it } from 'vitest';
import { RoomStream, type HistoryPage } from './room-stream';
import type { Message } from './types';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const message = (seq: number): Message => ({ id: 1000 + seq, seq, user_id: 'u', type: 'text', reply_to_message_id: null, content: { n: seq }, created_at: '' });
const event = (seq: number, source: 'live' | 'backfill') => ({ op: 'event', type: 'message.created', source, message: message(seq) });
const tick = () => new Promise<void>((r) => setTimeout(r, 0));

describe('room stream', () => {
  it('delivers every message once and in order over random joins, holes, gap notices and failing history reads', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = rng(seed);
      const total = 30 + Math.floor(random() * 40);
      const deleted = new Set(Array.from({ length: total }, (_, i) => i + 1).filter(() => random() < 0.1));
      const present = (seq: number) => !deleted.has(seq);
      const got: number[] = [];
      const stream = new RoomStream({
        deliver: (m) => got.push(m.seq),
        event: () => {},
        readHistory: async (afterSeq): Promise<HistoryPage> => {
          await tick();
          if (random() < 0.2) throw new Error('history down');
          const places = Array.from({ length: 7 }, (_, i) => afterSeq + 1 + i).filter((s) => s <= total);
          return { messages: places.filter(present).map(message), has_more: afterSeq + 7 < total, to_seq: places.at(-1) ?? null };
        },
        fillFailed: () => {},
        sleep: () => tick(),
      });
      // Joins: each resumes after what was delivered, with a backfill of at most `limit`
      // places, then live; cut off at a random point; a gap notice now and then.
      let room = 0; // seq the room has reached
      while (got.at(-1) !== lastPresent(total, present)) {
        room = Math.min(total, room + Math.floor(random() * 10));
        const after = stream.delivered;
        const limit = 1 + Math.floor(random() * 8);
        const backfillEnd = Math.min(room, after + limit);
        const token = stream.joined({ after_seq: after, last_seq: room, has_more: backfillEnd < room });
        const frames: Array<Record<string, unknown>> = [];
        for (let s = after + 1; s <= backfillEnd; s++) if (present(s)) frames.push(event(s, 'backfill'));
        let live = room;
        while (live < total && random() < 0.8) {
          live++;
          if (random() < 0.1) {
            // The gateway could not read live+0..live+2: it says so and goes on.
            const to = Math.min(total, live + 2);
            frames.push({ op: 'event', type: 'gap', from_seq: live, to_seq: to });
            live = to;
            continue;
          }
          if (present(live)) frames.push(event(live, 'live'));
        }
        room = live;
        const cut = random() < 0.3 ? Math.floor(random() * (frames.length + 1)) : frames.length;
        for (const frame of frames.slice(0, cut)) {
          stream.frame(token, frame);
          if (random() < 0.3) await tick();
        }
        for (let i = 0; i < 5 && random() < 0.7; i++) await tick();
        if (cut < frames.length || random() < 0.3) stream.left();
        else await stream.settled();
      }
      const expected = Array.from({ length: total }, (_, i) => i + 1).filter(present);
      expect(got, `seed ${seed}`).toEqual(expected);
    }
  });

  it('ignores frames of a join that was replaced', () => {
    const got: number[] = [];
    const stream = new RoomStream({
      deliver: (m) => got.push(m.seq),
      event: () => {},
      readHistory: async () => ({ messages: [], has_more: false, to_seq: null }),
      fillFailed: () => {},
      sleep: async () => {},
    });
    const old = stream.joined({ after_seq: 0, last_seq: 0, has_more: false });
    stream.left();
    const current = stream.joined({ after_seq: 0, last_seq: 0, has_more: false });
    stream.frame(old, event(1, 'live'));
    stream.frame(current, event(2, 'live'));
    stream.frame(current, event(2, 'live'));
    stream.frame(current, event(1, 'live'));
    expect(got).toEqual([2]);
  });

  it('hands on a room event once when it comes twice (read by the join and heard live), and events without an id as they come', () => {
    const events: string[] = [];
    const stream = new RoomStream({
      deliver: () => {},
      event: (f) => events.push(`${f.type}:${f.event_id ?? '-'}`),
      readHistory: async () => ({ messages: [], has_more: false, to_seq: null }),
      fillFailed: () => {},
      sleep: async () => {},
    });
    const join = stream.joined({ after_seq: 0, last_seq: 0, has_more: false });
    const updated = { op: 'event', type: 'message.updated', event_id: 7, seq: 3 };
    stream.frame(join, updated);
    stream.frame(join, { op: 'event', type: 'typing' });
    stream.frame(join, { ...updated });
    stream.frame(join, { op: 'event', type: 'typing' });
    stream.frame(join, { op: 'event', type: 'room.updated', event_id: 8, seq: 3 });
    expect(events).toEqual(['message.updated:7', 'typing:-', 'typing:-', 'room.updated:8']);
  });
});

function lastPresent(total: number, present: (seq: number) => boolean): number | undefined {
  for (let s = total; s > 0; s--) if (present(s)) return s;
  return undefined;
}
