// The chaos run's verdict on what the clients saw (docs/delivery.md). Pure: it reads the
// traces, the membership changes, the database's messages and the acknowledged sends,
// and lists every broken promise with enough detail to find it.
//
// Per connection and room, from the join reply on: message seqs exactly after_seq+1,
// after_seq+2, …; nothing of a room before its join reply, nor after the member's
// member.removed until it joins again; nothing past the removal's position on a
// membership that a removal ended; a member.removed for every real removal while the
// connection lasts (right after the last message it got, never later than the removal's
// place), and none for a remove + re-add in one transaction. At the end every
// member holds every stored message of its room, every acknowledged send is stored as
// acknowledged, and the outbox is empty.
import { isDeepStrictEqual } from 'node:util';
import type { AckedSend, ConnectionTrace, Member, MembershipChange, StoredMessage, TraceEntry } from './trace';

export const NOT_A_MEMBER = 'Forbidden: not a member';

export type FailureKind =
  | 'before-join'
  | 'after-removal'
  | 'foreign-room'
  | 'leak'
  | 'gap'
  | 'duplicate'
  | 'reorder'
  | 'has-more'
  | 'join-last-seq'
  | 'join-refused'
  | 'spurious-removal'
  | 'removal-position'
  | 'removal-not-notified'
  | 'gap-notice'
  | 'unknown-message'
  | 'missing-seq'
  | 'incomplete'
  | 'false-ack'
  | 'stored-seq'
  | 'outbox';

export interface Failure {
  kind: FailureKind;
  detail: string;
  roomId?: string;
  member?: string;
  connection?: string;
  seq?: number;
}

export interface CheckInput {
  members: Member[];
  connections: ConnectionTrace[];
  changes: MembershipChange[];
  stored: StoredMessage[];
  acked: AckedSend[];
  outbox: { pending: number; inProgress: number; dead: number };
  /** When the run ended: connections still open count as open until then. */
  endedAt: number;
  /** A connection joined under a membership a removal ended must see member.removed within this, unless it ends first. */
  removalNoticeGraceMs: number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface SlowDelivery {
  roomId: string;
  seq: number;
  member: string;
  sentAt: number;
  storedAt: number | null;
  arrivedAt: number;
  source: string;
}

export interface DeliveryStats {
  /** Σ over members of their room's stored messages. */
  deliveriesExpected: number;
  /** Of those, how many the member holds (on any of its connections). */
  deliveriesReceived: number;
  gapNotices: number;
  /** message.created events without message.seq (an implementation without seq). */
  messagesWithoutSeq: number;
  /** member.removed that came before the removal's place (allowed: nothing after it is delivered, the client resumes). */
  earlyEvictions: number;
  /** Send (the sender's clock, in the content) → first arrival at each other member. */
  latency: { all: LatencySummary; live: LatencySummary };
  /** The slowest sends to reach another member, slowest first. */
  slowest: SlowDelivery[];
}

export interface CheckResult {
  failures: Failure[];
  stats: DeliveryStats;
}

/** What one connection has been told about one room since its latest join. */
interface Stream {
  joined: boolean;
  /** Got its own member.removed: nothing of the room may come until it joins again. */
  evicted: boolean;
  pendingJoin: { afterSeq: number; epoch: number; at: number } | null;
  afterSeq: number;
  expected: number;
  seen: Set<number>;
  /** The real removal that ends the membership this stream joined under, if the run made one. */
  removal: MembershipChange | null;
  /** Membership changes of this member made before the stream joined. */
  earlier: MembershipChange[];
  removalNoticed: boolean;
  /** The membership its join reply named. */
  membershipId: number | null;
}

interface Arrival {
  at: number;
  source: string;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]! : 0);

export function summarize(values: number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? 0 };
}

/** `[1,2,3,7,9,10]` → `1–3, 7, 9–10`. */
export function ranges(values: number[]): string {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}–${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

const SLOWEST_KEPT = 3;
const keyOf = (roomId: string, userId: string) => `${roomId}/${userId}`;

export function checkRun(input: CheckInput): CheckResult {
  const failures: Failure[] = [];
  const fail = (failure: Failure) => failures.push(failure);
  const memberByUser = new Map(input.members.map((m) => [m.userId, m]));
  const storedById = new Map(input.stored.map((m) => [m.id, m]));
  const removalsOf = new Map<string, MembershipChange[]>();
  for (const change of [...input.changes].sort((a, b) => a.startedAt - b.startedAt)) {
    if (change.kind !== 'removed') continue;
    const key = keyOf(change.roomId, change.userId);
    removalsOf.set(key, [...(removalsOf.get(key) ?? []), change]);
  }
  const changesOf = (roomId: string, userId: string) => input.changes.filter((c) => c.roomId === roomId && c.userId === userId);
  /** Per member: the first arrival of each seq, over all its connections. */
  const held = new Map<string, Map<number, Arrival>>(input.members.map((m) => [m.userId, new Map()]));
  let gapNotices = 0;
  let messagesWithoutSeq = 0;
  let earlyEvictions = 0;

  for (const conn of input.connections) {
    const member = memberByUser.get(conn.userId);
    if (!member) continue;
    const streams = new Map<string, Stream>();
    const streamOf = (roomId: string): Stream => {
      let stream = streams.get(roomId);
      if (!stream) {
        stream = {
          joined: false,
          evicted: false,
          pendingJoin: null,
          afterSeq: 0,
          expected: 1,
          seen: new Set(),
          removal: null,
          earlier: [],
          removalNoticed: false,
          membershipId: null,
        };
        streams.set(roomId, stream);
      }
      return stream;
    };
    const where = (roomId: string, seq?: number) => ({ roomId, member: conn.member, connection: conn.id, ...(seq === undefined ? {} : { seq }) });
    /** The membership this stream joined under is over for it (re-join, end of connection): was it told of its removal in time? */
    const endSegment = (roomId: string, stream: Stream, until: number) => {
      const removal = stream.removal;
      if (!stream.joined || !removal || stream.removalNoticed) return;
      if (until - removal.committedAt > input.removalNoticeGraceMs) {
        fail({
          kind: 'removal-not-notified',
          detail: `removed at seq ${removal.position ?? '?'} (${Math.round(until - removal.committedAt)} ms before ${until === input.endedAt && conn.endedAt === null ? 'the end of the run' : 'the connection ended'}), but no member.removed arrived`,
          ...where(roomId),
        });
      }
    };
    /** An event of a room outside a joined stream is a failure; returns whether the event may be checked further. */
    const admitted = (entry: TraceEntry & { roomId: string }, what: string, seq?: number): boolean => {
      if (entry.roomId !== member.roomId) {
        fail({ kind: 'foreign-room', detail: `${what} of a room this member is not in`, ...where(entry.roomId, seq) });
        return false;
      }
      const stream = streamOf(entry.roomId);
      if (stream.joined) return true;
      if (stream.evicted)
        fail({ kind: 'after-removal', detail: `${what} after this connection's member.removed, before it joined again`, ...where(entry.roomId, seq) });
      else fail({ kind: 'before-join', detail: `${what} before a successful join reply`, ...where(entry.roomId, seq) });
      return false;
    };

    for (const entry of conn.entries) {
      switch (entry.kind) {
        case 'join-sent':
          streamOf(entry.roomId).pendingJoin = { afterSeq: entry.afterSeq, epoch: entry.epoch, at: entry.at };
          break;
        case 'join-ok': {
          const stream = streamOf(entry.roomId);
          const pending = stream.pendingJoin;
          if (!pending) break;
          endSegment(entry.roomId, stream, entry.at);
          if (entry.hasMore === true) fail({ kind: 'has-more', detail: `join after_seq ${pending.afterSeq} answered has_more: true`, ...where(entry.roomId) });
          if (entry.lastSeq !== null && entry.lastSeq < pending.afterSeq) {
            fail({ kind: 'join-last-seq', detail: `join after_seq ${pending.afterSeq} answered last_seq ${entry.lastSeq}`, ...where(entry.roomId) });
          }
          Object.assign(stream, {
            joined: true,
            evicted: false,
            pendingJoin: null,
            afterSeq: pending.afterSeq,
            expected: pending.afterSeq + 1,
            seen: new Set<number>(),
            removal: removalsOf.get(keyOf(entry.roomId, conn.userId))?.[pending.epoch] ?? null,
            earlier: changesOf(entry.roomId, conn.userId).filter((c) => c.committedAt < pending.at),
            removalNoticed: false,
            membershipId: entry.membershipId,
          });
          break;
        }
        case 'join-failed': {
          streamOf(entry.roomId).pendingJoin = null;
          // The run never joins while it is removing the member, so the member is active here.
          if (entry.error === NOT_A_MEMBER)
            fail({ kind: 'join-refused', detail: `join refused (${entry.error}) while the member was active`, ...where(entry.roomId) });
          break;
        }
        case 'message': {
          const stored = storedById.get(entry.id);
          if (entry.seq === null) messagesWithoutSeq++;
          const seq = entry.seq ?? stored?.seq ?? null;
          const matches = stored !== undefined && stored.roomId === entry.roomId && stored.seq === seq;
          if (!matches) {
            const found = stored ? `stored in room ${stored.roomId} as seq ${stored.seq}` : 'not stored';
            fail({
              kind: 'unknown-message',
              detail: `message id ${entry.id} seq ${entry.seq ?? '?'}: ${found}`,
              ...where(entry.roomId, entry.seq ?? undefined),
            });
          }
          if (seq === null) break;
          const arrivals = held.get(conn.userId)!;
          if (matches && entry.roomId === member.roomId && !arrivals.has(seq)) arrivals.set(seq, { at: entry.at, source: entry.source });
          if (!admitted(entry, `message seq ${seq}`, seq)) break;
          const stream = streamOf(entry.roomId);
          const removal = stream.removal;
          if (removal && removal.position !== null && seq > removal.position) {
            fail({ kind: 'leak', detail: `message seq ${seq} on a membership removed at seq ${removal.position}`, ...where(entry.roomId, seq) });
          }
          if (seq > stream.expected) {
            const missing = seq - 1 === stream.expected ? `${stream.expected}` : `${stream.expected}–${seq - 1}`;
            fail({ kind: 'gap', detail: `seq ${seq} arrived, missing ${missing} (joined after_seq ${stream.afterSeq})`, ...where(entry.roomId, seq) });
          } else if (seq < stream.expected) {
            const why =
              seq <= stream.afterSeq
                ? `at or before the join's after_seq ${stream.afterSeq}`
                : stream.seen.has(seq)
                  ? 'already delivered on this connection'
                  : 'after a later seq';
            fail({
              kind: seq <= stream.afterSeq || stream.seen.has(seq) ? 'duplicate' : 'reorder',
              detail: `seq ${seq} ${why} (expected ${stream.expected})`,
              ...where(entry.roomId, seq),
            });
          }
          stream.seen.add(seq);
          stream.expected = Math.max(stream.expected, seq + 1);
          break;
        }
        case 'member-removed': {
          if (!admitted(entry, `member.removed of ${entry.userId === conn.userId ? 'this member' : entry.userId}`, entry.seq ?? undefined)) break;
          if (entry.userId !== conn.userId) break;
          const stream = streamOf(entry.roomId);
          // The room is told of every removal; one that ended an earlier membership of this
          // member is not about this connection (it joined under another).
          if (entry.membershipId !== null && stream.membershipId !== null && entry.membershipId !== stream.membershipId) break;
          const removal = stream.removal;
          const named = entry.membershipId;
          const notThisRemoval =
            !removal || entry.at < removal.startedAt || (named !== null && removal.membershipId !== null && named !== removal.membershipId);
          if (notThisRemoval) {
            const stale = named === null ? undefined : stream.earlier.find((c) => c.membershipId === named);
            const why = stale
              ? `it names membership ${named}, which a ${stale.kind === 'flipped' ? 'remove + re-add in one transaction' : 'removal'} at seq ${stale.position ?? '?'} ended before this connection joined`
              : `no removal of this member ended the membership it joined under${named === null ? '' : ` (it names membership ${named})`}; a remove + re-add in one transaction must not evict`;
            fail({
              kind: 'spurious-removal',
              detail: `member.removed (seq ${entry.seq ?? '?'}) evicted this connection: ${why}`,
              ...where(entry.roomId, entry.seq ?? undefined),
            });
          } else {
            stream.removalNoticed = true;
            // It comes right after the message it names, and never names a place past the
            // removal's. Naming an earlier one is allowed: a gateway that learns of a removal
            // only after a re-add (which clears removed_after_seq) evicts where it is.
            const delivered = stream.expected - 1;
            if (entry.seq !== null && entry.seq !== delivered) {
              fail({
                kind: 'removal-position',
                detail: `member.removed carries seq ${entry.seq} but arrived after seq ${delivered} (removal at seq ${removal.position ?? '?'})`,
                ...where(entry.roomId, entry.seq),
              });
            } else if (entry.seq !== null && removal.position !== null && entry.seq > removal.position) {
              fail({
                kind: 'removal-position',
                detail: `member.removed carries seq ${entry.seq}, past the removal's place ${removal.position}`,
                ...where(entry.roomId, entry.seq),
              });
            } else if (removal.position !== null && delivered < removal.position) {
              earlyEvictions++;
            }
          }
          stream.joined = false;
          stream.evicted = true;
          break;
        }
        case 'gap': {
          gapNotices++;
          fail({ kind: 'gap-notice', detail: `gap notice from_seq ${entry.fromSeq} to_seq ${entry.toSeq}`, ...where(entry.roomId, entry.fromSeq) });
          if (!admitted(entry, 'gap notice')) break;
          const stream = streamOf(entry.roomId);
          stream.expected = Math.max(stream.expected, entry.toSeq + 1);
          break;
        }
        case 'room-event':
          admitted(entry, `${entry.type} event`, entry.seq ?? undefined);
          break;
      }
    }
    for (const [roomId, stream] of streams) endSegment(roomId, stream, conn.endedAt ?? input.endedAt);
  }

  // What every member holds at the end, against what is stored.
  const storedByRoom = new Map<string, StoredMessage[]>();
  for (const m of input.stored) storedByRoom.set(m.roomId, [...(storedByRoom.get(m.roomId) ?? []), m]);
  let deliveriesExpected = 0;
  let deliveriesReceived = 0;
  for (const member of input.members) {
    const roomMessages = storedByRoom.get(member.roomId) ?? [];
    const arrivals = held.get(member.userId)!;
    const missing = roomMessages.filter((m) => !arrivals.has(m.seq)).map((m) => m.seq);
    deliveriesExpected += roomMessages.length;
    deliveriesReceived += roomMessages.length - missing.length;
    if (missing.length)
      fail({
        kind: 'incomplete',
        detail: `at the end it lacks ${missing.length} of the room's ${roomMessages.length} messages: seq ${ranges(missing)}`,
        roomId: member.roomId,
        member: member.label,
        seq: missing[0],
      });
  }
  for (const [roomId, messages] of storedByRoom) {
    const seqs = messages.map((m) => m.seq).sort((a, b) => a - b);
    const wrong = seqs.filter((seq, i) => seq !== i + 1);
    if (wrong.length) fail({ kind: 'stored-seq', detail: `stored seqs are not 1..${seqs.length}: ${ranges(seqs).slice(0, 200)}`, roomId });
  }

  for (const ack of input.acked) {
    const stored = storedById.get(ack.messageId);
    const memberLabel = memberByUser.get(ack.userId)?.label;
    const where = { roomId: ack.roomId, member: memberLabel, connection: ack.connection, ...(ack.seq === null ? {} : { seq: ack.seq }) };
    if (!stored) fail({ kind: 'false-ack', detail: `send acknowledged as message ${ack.messageId} seq ${ack.seq ?? '?'}, not stored`, ...where });
    else if (stored.roomId !== ack.roomId || (ack.seq !== null && stored.seq !== ack.seq) || !isDeepStrictEqual(stored.content, ack.content)) {
      fail({
        kind: 'false-ack',
        detail: `send acknowledged as message ${ack.messageId} seq ${ack.seq ?? '?'}, stored as seq ${stored.seq} in room ${stored.roomId} with content ${JSON.stringify(stored.content)}`,
        ...where,
      });
    }
  }

  const { pending, inProgress, dead } = input.outbox;
  if (pending + inProgress + dead > 0) fail({ kind: 'outbox', detail: `outbox not drained: ${pending} pending, ${inProgress} in_progress, ${dead} dead` });
  if (messagesWithoutSeq > 0)
    fail({ kind: 'missing-seq', detail: `${messagesWithoutSeq} message.created events without message.seq (the checker used the stored seq)` });

  // Latency: send → first arrival at each other member of the room.
  const all: number[] = [];
  const live: number[] = [];
  let slowest: SlowDelivery[] = [];
  for (const message of input.stored) {
    const sentAt = (message.content as { sentAt?: unknown } | null)?.sentAt;
    if (typeof sentAt !== 'number') continue;
    for (const member of input.members) {
      if (member.roomId !== message.roomId || member.userId === message.userId) continue;
      const arrival = held.get(member.userId)!.get(message.seq);
      if (!arrival) continue;
      all.push(arrival.at - sentAt);
      if (arrival.source === 'live') live.push(arrival.at - sentAt);
      if (slowest.length < SLOWEST_KEPT || arrival.at - sentAt > slowest.at(-1)!.arrivedAt - slowest.at(-1)!.sentAt) {
        const slow = {
          roomId: message.roomId,
          seq: message.seq,
          member: member.label,
          sentAt,
          storedAt: message.createdAt ?? null,
          arrivedAt: arrival.at,
          source: arrival.source,
        };
        slowest = [...slowest, slow].sort((a, b) => b.arrivedAt - b.sentAt - (a.arrivedAt - a.sentAt)).slice(0, SLOWEST_KEPT);
      }
    }
  }

  return {
    failures,
    stats: {
      deliveriesExpected,
      deliveriesReceived,
      gapNotices,
      messagesWithoutSeq,
      earlyEvictions,
      latency: { all: summarize(all), live: summarize(live) },
      slowest,
    },
  };
}
