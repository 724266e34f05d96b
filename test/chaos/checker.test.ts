// The chaos checker on hand-written traces: each broken promise is found, and the
// legitimate cases (resume after a reconnect, removal then re-add, a connection that
// ends mid-stream, a remove + re-add in one transaction) pass.
import { describe, expect, it } from 'vitest';
import { checkRun, ranges, summarize, type CheckInput, type FailureKind } from './checker';
import { checkLogs } from './log-check';
import type { AckedSend, ConnectionTrace, FaultRecord, Member, MembershipChange, StoredMessage, TraceEntry } from './trace';

const ROOM = 'room-a';
const OTHER_ROOM = 'room-b';
const ALICE = 'user-alice';
const BOB = 'user-bob';
const members: Member[] = [
  { label: 'r1m1', userId: ALICE, roomId: ROOM },
  { label: 'r1m2', userId: BOB, roomId: ROOM },
];
const idOf = (seq: number) => 100 + seq;

/** Messages 1..n of ROOM, sent by Bob at t=1000. */
function stored(n: number): StoredMessage[] {
  return Array.from({ length: n }, (_, i) => ({ id: idOf(i + 1), roomId: ROOM, seq: i + 1, userId: BOB, content: { chaos: i + 1, by: 'r1m2', sentAt: 1000 } }));
}

const joinSent = (at: number, afterSeq: number, epoch = 0): TraceEntry => ({ kind: 'join-sent', at, roomId: ROOM, afterSeq, epoch });
const joinOk = (at: number, lastSeq: number | null = null, hasMore: boolean | null = false, membershipId: number | null = null): TraceEntry => ({
  kind: 'join-ok',
  at,
  roomId: ROOM,
  lastSeq,
  hasMore,
  membershipId,
});
const message = (seq: number, at = 2000, roomId = ROOM, source = 'live'): TraceEntry => ({
  kind: 'message',
  at,
  roomId,
  id: idOf(seq),
  seq,
  userId: BOB,
  source,
  sentAt: 1000,
});
const messages = (from: number, to: number, at = 2000): TraceEntry[] => Array.from({ length: to - from + 1 }, (_, i) => message(from + i, at + i));
const removedEvent = (at: number, seq: number | null, userId = ALICE, membershipId: number | null = null): TraceEntry => ({
  kind: 'member-removed',
  at,
  roomId: ROOM,
  userId,
  seq,
  membershipId,
});

let connections = 0;
function conn(userId: string, entries: TraceEntry[], endedAt: number | null = null): ConnectionTrace {
  const member = members.find((m) => m.userId === userId)!;
  return { id: `${member.label}#${++connections}`, member: member.label, userId, gateway: 'gateway-1 :1', openedAt: 0, endedAt, entries };
}
/** Bob on one connection from seq 1 to n: keeps him out of the way of the case under test. */
const bobHoldsAll = (n: number) => conn(BOB, [joinSent(10, 0), joinOk(11), ...messages(1, n)]);

const removal = (position: number | null, startedAt = 2500, committedAt = 2510, membershipId: number | null = null): MembershipChange => ({
  kind: 'removed',
  roomId: ROOM,
  userId: ALICE,
  startedAt,
  committedAt,
  position,
  membershipId,
});
const readd = (position: number, at = 4000, membershipId: number | null = null): MembershipChange => ({
  kind: 'readded',
  roomId: ROOM,
  userId: ALICE,
  startedAt: at,
  committedAt: at + 5,
  position,
  membershipId,
});

function check(parts: Partial<CheckInput> & { n: number }) {
  return checkRun({
    members,
    connections: [],
    changes: [],
    stored: stored(parts.n),
    acked: [],
    outbox: { pending: 0, inProgress: 0, dead: 0 },
    endedAt: 60_000,
    removalNoticeGraceMs: 15_000,
    ...parts,
  });
}
const kinds = (result: ReturnType<typeof check>): FailureKind[] => result.failures.map((f) => f.kind);

describe('chaos checker: legitimate runs pass', () => {
  it('one connection that gets every message in order', () => {
    const result = check({ n: 5, connections: [conn(ALICE, [joinSent(10, 0), joinOk(11, 0), ...messages(1, 5)]), bobHoldsAll(5)] });
    expect(result.failures).toEqual([]);
    expect(result.stats.deliveriesExpected).toBe(10);
    expect(result.stats.deliveriesReceived).toBe(10);
  });

  it('a connection that ends mid-stream, and the next one resuming after the last seq it held', () => {
    const first = conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 3)], 2100);
    const second = conn(ALICE, [joinSent(2200, 3), joinOk(2201, 3), message(4, 2202, ROOM, 'backfill'), message(5, 2300)]);
    expect(check({ n: 5, connections: [first, second, bobHoldsAll(5)] }).failures).toEqual([]);
  });

  it('a removal (member.removed right after its position), then a re-add and a join after that seq', () => {
    const alice = conn(ALICE, [
      joinSent(10, 0),
      joinOk(11),
      ...messages(1, 3),
      removedEvent(2600, 3),
      joinSent(4100, 3, 1),
      joinOk(4101, 5),
      message(4, 4102, ROOM, 'backfill'),
      message(5, 4103, ROOM, 'backfill'),
      message(6, 4200),
    ]);
    const result = check({ n: 6, connections: [alice, bobHoldsAll(6)], changes: [removal(3), readd(5)] });
    expect(result.failures).toEqual([]);
  });

  it('a removal whose connection dies before member.removed arrives, then a new connection after the re-add', () => {
    const first = conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 3)], 2520);
    const second = conn(ALICE, [joinSent(4100, 3, 1), joinOk(4101), ...messages(4, 6, 4102)]);
    expect(check({ n: 6, connections: [first, second, bobHoldsAll(6)], changes: [removal(3), readd(4)] }).failures).toEqual([]);
  });

  it('a remove + re-add in one transaction with the connection receiving on without a break', () => {
    const flip: MembershipChange = { kind: 'flipped', roomId: ROOM, userId: ALICE, startedAt: 2500, committedAt: 2505, position: 2, membershipId: null };
    const alice = conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 5)]);
    expect(check({ n: 5, connections: [alice, bobHoldsAll(5)], changes: [flip] }).failures).toEqual([]);
  });

  it('an early eviction: member.removed right after the last message delivered, before the removal’s place', () => {
    const early = conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 3), removedEvent(2600, 3)], 2700);
    const resumed = conn(ALICE, [joinSent(4100, 3, 1), joinOk(4101), ...messages(4, 6, 4102)]);
    const result = check({ n: 6, connections: [early, resumed, bobHoldsAll(6)], changes: [removal(5), readd(5)] });
    expect(result.failures).toEqual([]);
    expect(result.stats.earlyEvictions).toBe(1);
  });

  it('another member’s member.removed while joined is fine', () => {
    const alice = conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 2), removedEvent(2600, 2, BOB), ...messages(3, 4, 2700)]);
    expect(check({ n: 4, connections: [alice, bobHoldsAll(4)] }).failures).toEqual([]);
  });

  it('a join refused as unavailable (a fault) is not a failure; the retry resumes', () => {
    const alice = conn(ALICE, [
      joinSent(10, 0),
      { kind: 'join-failed', at: 11, roomId: ROOM, error: 'unavailable' },
      joinSent(300, 0),
      joinOk(301),
      ...messages(1, 3),
    ]);
    expect(check({ n: 3, connections: [alice, bobHoldsAll(3)] }).failures).toEqual([]);
  });

  it('a correct acknowledgement', () => {
    const ack: AckedSend = {
      connection: 'r1m2#1',
      roomId: ROOM,
      userId: BOB,
      messageId: idOf(2),
      seq: 2,
      content: { chaos: 2, by: 'r1m2', sentAt: 1000 },
      sentAt: 1000,
      ackedAt: 1005,
    };
    expect(check({ n: 2, connections: [conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 2)]), bobHoldsAll(2)], acked: [ack] }).failures).toEqual([]);
  });
});

describe('chaos checker: each broken promise is found', () => {
  it('a gap on a connection, and the member lacking that message at the end', () => {
    const result = check({ n: 5, connections: [conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 2), ...messages(4, 5)]), bobHoldsAll(5)] });
    expect(kinds(result)).toEqual(['gap', 'incomplete']);
    expect(result.failures[0]).toMatchObject({ member: 'r1m1', seq: 4, roomId: ROOM });
    expect(result.failures[0]!.detail).toContain('missing 3');
    expect(result.failures[1]!.detail).toContain('seq 3');
  });

  it('a duplicate on one connection', () => {
    const result = check({ n: 3, connections: [conn(ALICE, [joinSent(10, 0), joinOk(11), message(1), message(2), message(2), message(3)]), bobHoldsAll(3)] });
    expect(kinds(result)).toEqual(['duplicate']);
  });

  it('a reordering: a later seq before an earlier one', () => {
    const result = check({ n: 3, connections: [conn(ALICE, [joinSent(10, 0), joinOk(11), message(1), message(3), message(2)]), bobHoldsAll(3)] });
    expect(kinds(result)).toEqual(['gap', 'reorder']);
  });

  it('a backfill that ignores after_seq (starts again from 1)', () => {
    const second = conn(ALICE, [joinSent(2200, 3), joinOk(2201), ...messages(1, 5, 2202)]);
    const result = check({ n: 5, connections: [conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 3)], 2100), second, bobHoldsAll(5)] });
    expect(kinds(result)).toEqual(['duplicate', 'duplicate', 'duplicate']);
    expect(result.failures[0]!.detail).toContain("at or before the join's after_seq 3");
  });

  it('an event before the join reply', () => {
    const result = check({ n: 2, connections: [conn(ALICE, [joinSent(10, 0), message(1, 11), joinOk(12), message(2)]), bobHoldsAll(2)] });
    expect(kinds(result)).toContain('before-join');
  });

  it('an event of a room the member is not in', () => {
    const result = check({
      n: 1,
      connections: [
        conn(ALICE, [joinSent(10, 0), joinOk(11), message(1), { kind: 'room-event', at: 3000, roomId: OTHER_ROOM, type: 'room.updated', seq: 7 }]),
        bobHoldsAll(1),
      ],
    });
    expect(kinds(result)).toEqual(['foreign-room']);
  });

  it('a message past the removal position before member.removed is a leak; anything after member.removed too', () => {
    const alice = conn(ALICE, [
      joinSent(10, 0),
      joinOk(11),
      ...messages(1, 3),
      message(4, 2600),
      removedEvent(2700, 3),
      message(5, 2800),
      joinSent(4100, 5, 1),
      joinOk(4101),
      message(6, 4200),
    ]);
    const result = check({ n: 6, connections: [alice, bobHoldsAll(6)], changes: [removal(3), readd(5)] });
    expect(kinds(result)).toEqual(['leak', 'removal-position', 'after-removal']);
    expect(result.failures[0]).toMatchObject({ seq: 4 });
  });

  it('a removed member never told, on a connection that lasted', () => {
    const alice = conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 3)]);
    const result = check({ n: 3, connections: [alice, bobHoldsAll(3)], changes: [removal(3), readd(3)] });
    expect(kinds(result)).toEqual(['removal-not-notified']);
  });

  it('member.removed for a remove + re-add in one transaction', () => {
    const flip: MembershipChange = { kind: 'flipped', roomId: ROOM, userId: ALICE, startedAt: 2500, committedAt: 2505, position: 2, membershipId: null };
    const alice = conn(ALICE, [
      joinSent(10, 0),
      joinOk(11),
      ...messages(1, 2),
      removedEvent(2600, 2),
      joinSent(2610, 2),
      joinOk(2611),
      ...messages(3, 4, 2700),
    ]);
    expect(kinds(check({ n: 4, connections: [alice, bobHoldsAll(4)], changes: [flip] }))).toEqual(['spurious-removal']);
  });

  it('a member.removed that arrives before the removal began is not that removal’s', () => {
    const alice = conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 2), removedEvent(2400, 2)], 3000);
    expect(kinds(check({ n: 2, connections: [alice, bobHoldsAll(2)], changes: [removal(2, 2500)] }))).toEqual(['spurious-removal']);
  });

  it('member.removed that does not sit right after the last message delivered, or claims a place past the removal', () => {
    const skipped = conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 3), removedEvent(2600, 5)], 2700);
    const resumed = conn(ALICE, [joinSent(4100, 3, 1), joinOk(4101), ...messages(4, 5, 4102)]);
    expect(kinds(check({ n: 5, connections: [skipped, resumed, bobHoldsAll(5)], changes: [removal(5), readd(5)] }))).toEqual(['removal-position']);
    const late = conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 5), removedEvent(2600, 5)], 2700);
    expect(kinds(check({ n: 5, connections: [late, bobHoldsAll(5)], changes: [removal(4), readd(5)] }))).toEqual(['leak', 'removal-position']);
  });

  it('a stale member.removed (of a membership ended before the join) evicting a re-added member, told apart by membership_id', () => {
    // Removed at 3 (membership 1), re-added (membership 2), joined; removed again at 6 (membership 2); the event naming membership 1 arrives after that.
    const alice = conn(ALICE, [joinSent(4100, 3, 1), joinOk(4101), ...messages(4, 6, 4102), removedEvent(7000, 6, ALICE, 1)], 7100);
    const earlier = conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 3)], 2520);
    const changes = [removal(3, 2500, 2510, 1), readd(3, 4000, 2), removal(6, 6000, 6010, 2), readd(6, 8000, 3)];
    const result = check({ n: 6, connections: [earlier, alice, bobHoldsAll(6)], changes });
    expect(kinds(result)).toEqual(['spurious-removal']);
    expect(result.failures[0]!.detail).toContain('names membership 1, which a removal at seq 3 ended before this connection joined');
    // The same event naming membership 2 is that removal's (an early eviction would be fine too).
    const right = conn(ALICE, [joinSent(4100, 3, 1), joinOk(4101), ...messages(4, 6, 4102), removedEvent(7000, 6, ALICE, 2)], 7100);
    expect(check({ n: 6, connections: [earlier, right, bobHoldsAll(6)], changes }).failures).toEqual([]);
  });

  it('a removal of an earlier membership, told to the room, is not about a connection that joined under another', () => {
    // The join reply names membership 2; the room is then told that membership 1 ended: the connection goes on.
    const alice = conn(
      ALICE,
      [joinSent(4100, 3, 1), joinOk(4101, null, false, 2), message(4, 4102), removedEvent(4200, 4, ALICE, 1), ...messages(5, 6, 4300)],
      7100,
    );
    const earlier = conn(ALICE, [joinSent(10, 0), joinOk(11, null, false, 1), ...messages(1, 3)], 2520);
    const changes = [removal(3, 2500, 2510, 1), readd(3, 4000, 2)];
    expect(check({ n: 6, connections: [earlier, alice, bobHoldsAll(6)], changes }).failures).toEqual([]);
  });

  it('a gap notice', () => {
    const alice = conn(ALICE, [
      joinSent(10, 0),
      joinOk(11),
      message(1),
      { kind: 'gap', at: 2100, roomId: ROOM, fromSeq: 2, toSeq: 3 },
      message(4, 2200),
      joinSent(2300, 1),
      joinOk(2301),
      ...messages(2, 4, 2302),
    ]);
    const result = check({ n: 4, connections: [alice, bobHoldsAll(4)] });
    expect(kinds(result)).toEqual(['gap-notice']);
    expect(result.stats.gapNotices).toBe(1);
  });

  it('join replies: has_more, last_seq behind after_seq, refused while a member', () => {
    const first = conn(ALICE, [joinSent(10, 0), joinOk(11, 0, true), ...messages(1, 2)], 2100);
    const second = conn(ALICE, [joinSent(2200, 2), joinOk(2201, 1), { kind: 'join-failed', at: 2300, roomId: ROOM, error: 'Forbidden: not a member' }]);
    expect(kinds(check({ n: 2, connections: [first, second, bobHoldsAll(2)] }))).toEqual(['has-more', 'join-last-seq', 'join-refused']);
  });

  it('acknowledged sends that are not stored, or stored otherwise', () => {
    const ack = (messageId: number, seq: number | null, content: Record<string, unknown>): AckedSend => ({
      connection: 'r1m2#1',
      roomId: ROOM,
      userId: BOB,
      messageId,
      seq,
      content,
      sentAt: 1000,
      ackedAt: 1001,
    });
    const result = check({
      n: 2,
      connections: [conn(ALICE, [joinSent(10, 0), joinOk(11), ...messages(1, 2)]), bobHoldsAll(2)],
      acked: [ack(999, 3, { chaos: 9 }), ack(idOf(1), 2, { chaos: 1, by: 'r1m2', sentAt: 1000 }), ack(idOf(2), null, { chaos: 99 })],
    });
    expect(kinds(result)).toEqual(['false-ack', 'false-ack', 'false-ack']);
  });

  it('an outbox that is not drained, and stored seqs with a hole', () => {
    const holey = stored(3).map((m) => (m.seq === 3 ? { ...m, seq: 4 } : m));
    const result = checkRun({
      members: [],
      connections: [],
      changes: [],
      stored: holey,
      acked: [],
      outbox: { pending: 1, inProgress: 0, dead: 2 },
      endedAt: 1,
      removalNoticeGraceMs: 1,
    });
    expect(kinds(result).sort()).toEqual(['outbox', 'stored-seq']);
  });

  it('a delivered message unknown to the database, or with another seq', () => {
    const alice = conn(ALICE, [joinSent(10, 0), joinOk(11), message(1), { ...(message(2) as Extract<TraceEntry, { kind: 'message' }>), id: 555 }]);
    const result = check({ n: 2, connections: [alice, bobHoldsAll(2)] });
    expect(kinds(result)).toEqual(['unknown-message', 'incomplete']);
  });

  it('events without message.seq: reported once, checked with the stored seq', () => {
    const noSeq = (seq: number): TraceEntry => ({ ...(message(seq) as Extract<TraceEntry, { kind: 'message' }>), seq: null });
    const alice = conn(ALICE, [joinSent(10, 0), joinOk(11), noSeq(1), noSeq(3), noSeq(2)]);
    const result = check({ n: 3, connections: [alice, bobHoldsAll(3)] });
    expect(kinds(result)).toEqual(['gap', 'reorder', 'missing-seq']);
    expect(result.stats.messagesWithoutSeq).toBe(3);
  });
});

describe('chaos checker: figures', () => {
  it('latency from the send to the first arrival at each other member, live and all', () => {
    const alice = conn(ALICE, [joinSent(10, 0), joinOk(11), message(1, 1010, ROOM, 'backfill'), message(2, 1020), message(3, 1500)]);
    const result = check({ n: 3, connections: [alice, bobHoldsAll(3)] });
    expect(result.stats.latency.all).toEqual({ count: 3, p50: 20, p99: 500, max: 500 });
    expect(result.stats.latency.live.count).toBe(2); // Bob is the sender: his own arrivals do not count
  });

  it('ranges and percentiles', () => {
    expect(ranges([9, 1, 2, 3, 7, 10, 2])).toBe('1–3, 7, 9–10');
    expect(summarize([])).toEqual({ count: 0, p50: 0, p99: 0, max: 0 });
    expect(summarize(Array.from({ length: 100 }, (_, i) => i + 1))).toEqual({ count: 100, p50: 50, p99: 99, max: 100 });
  });
});

describe('chaos log check', () => {
  it('a process that died of an uncaught exception is a crash, named by its error', () => {
    const output = [
      JSON.stringify({ level: 30, time: 1, msg: 'gateway listening' }),
      'node:internal/process/promises:391',
      '    triggerUncaughtException(err, true /* fromPromise */);',
      '    ^',
      '',
      'PostgresError: terminating connection due to administrator command',
      '    at ErrorResponse (file:///node_modules/postgres/src/connection.js:824:30)',
      'Node.js v20.20.2',
    ].join('\n');
    const verdict = checkLogs([{ name: 'gateway-1#2', pid: 3, output }], [], 10);
    expect(verdict.unexplained.map((l) => l.text)).toEqual(['crashed: PostgresError: terminating connection due to administrator command']);
  });

  it('explains connection errors while the run stops the processes at the end', () => {
    const output = JSON.stringify({ level: 50, time: 50_100, msg: 'op failed', err: 'write CONNECTION_DESTROYED 127.0.0.1:5432' });
    const shutdown = { kind: 'shutdown', target: 'all', startedAt: 50_000, endedAt: 50_200 };
    expect(checkLogs([{ name: 'gateway-1#1', pid: 1, output }], [], 60_000).unexplained).toHaveLength(1);
    expect(checkLogs([{ name: 'gateway-1#1', pid: 1, output }], [shutdown], 60_000).explained).toHaveLength(1);
  });

  const fault: FaultRecord = { kind: 'postgres-restart', target: 'postgres', startedAt: 10_000, endedAt: 12_000, detail: '' };
  const line = (level: number, time: number, msg: string, err = '') => JSON.stringify({ level, time, msg, ...(err ? { err } : {}) });

  it('explains connection errors during a fault (or just after), and nothing else', () => {
    const output = [
      line(30, 9000, 'started'),
      line(40, 11_000, 'pool', 'connect ECONNREFUSED 127.0.0.1:5432'),
      line(50, 11_000, 'op failed', 'connect ECONNREFUSED 127.0.0.1:5432'),
      line(50, 16_000, 'op failed', 'write CONNECTION_CLOSED'),
      line(50, 25_000, 'op failed', 'terminating connection due to administrator command'),
      line(50, 30_000, 'op failed', 'connect ECONNREFUSED 127.0.0.1:5432'),
      line(50, 5000, 'op failed', 'terminating connection due to administrator command'),
      line(50, 11_500, 'op failed', 'column "seq" does not exist'),
      line(60, 11_500, 'fatal', 'Connection terminated'),
      'FATAL ERROR: Reached heap limit',
    ].join('\n');
    const workerKill: FaultRecord = { kind: 'worker-kill', target: 'worker-1', startedAt: 10_500, endedAt: 11_800, detail: '' };
    const verdict = checkLogs([{ name: 'gateway-1#1', pid: 7, output }], [fault, workerKill], 40_000);
    expect(verdict.explained.map((l) => JSON.parse(l.text).time)).toEqual([11_000, 16_000, 25_000]);
    expect(verdict.explained.map((l) => l.fault)).toEqual([
      'postgres-restart postgres',
      'postgres-restart postgres, 4.0 s after it ended',
      'postgres-restart postgres, 13.0 s after it ended',
    ]);
    expect(verdict.unexplained.map((l) => l.text.slice(0, 40))).toEqual([
      'FATAL ERROR: Reached heap limit',
      line(50, 30_000, 'op failed', 'connect ECONNREFUSED 127.0.0.1:5432').slice(0, 40),
      line(50, 5000, 'op failed', 'terminating connection due to administrator command').slice(0, 40),
      line(50, 11_500, 'op failed', 'column "seq" does not exist').slice(0, 40),
      line(60, 11_500, 'fatal', 'Connection terminated').slice(0, 40),
    ]);
  });
});
