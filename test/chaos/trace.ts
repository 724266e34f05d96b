// What the chaos run records, and what the checker reads: each client connection's
// frames in arrival order, the membership changes the run made, the sends the server
// acknowledged, the faults it injected. Plain data, so the checker can be tested on
// hand-written traces.

export type TraceEntry =
  /** `epoch`: how many real removals of this member had committed when the join was sent. */
  | { kind: 'join-sent'; at: number; roomId: string; afterSeq: number; epoch: number }
  /** `membershipId`: the membership the join reply says the socket joined under (null if absent). */
  | { kind: 'join-ok'; at: number; roomId: string; lastSeq: number | null; hasMore: boolean | null; membershipId: number | null }
  | { kind: 'join-failed'; at: number; roomId: string; error: string }
  /** `seq` null: the event carried no message.seq. `sentAt`: the sender's clock, from the content. */
  | { kind: 'message'; at: number; roomId: string; id: number; seq: number | null; userId: string; source: string; sentAt: number | null }
  /** `membershipId`: data.membership_id, the membership it says it ended (null if absent). */
  | { kind: 'member-removed'; at: number; roomId: string; userId: string; seq: number | null; membershipId: number | null }
  | { kind: 'gap'; at: number; roomId: string; fromSeq: number; toSeq: number }
  | { kind: 'room-event'; at: number; roomId: string; type: string; seq: number | null };

export interface ConnectionTrace {
  /** e.g. `r1m2#3`: member r1m2's third connection. */
  id: string;
  member: string;
  userId: string;
  /** Which gateway it talked to, e.g. `gateway-2 :41234`. */
  gateway: string;
  openedAt: number;
  /** null: still open when the run ended. */
  endedAt: number | null;
  entries: TraceEntry[];
}

export interface Member {
  label: string;
  userId: string;
  roomId: string;
}

/**
 * `removed`: the member row soft-deleted; `readded`: restored; `flipped`: removed and
 * restored in one transaction (no one may be evicted by it). `position`: the room's
 * last seq under the room lock in that transaction (null if the transaction's outcome
 * had to be read back afterwards). `startedAt` is taken before the transaction begins.
 */
export interface MembershipChange {
  kind: 'removed' | 'readded' | 'flipped';
  roomId: string;
  userId: string;
  startedAt: number;
  committedAt: number;
  position: number | null;
  /** removed/flipped: the membership_id of the row before the change; readded: the one after (null: no such column, or unknown). */
  membershipId: number | null;
}

export interface StoredMessage {
  id: number;
  roomId: string;
  seq: number;
  userId: string;
  content: unknown;
  /** created_at, ms: when the send's transaction began. */
  createdAt?: number;
}

export interface AckedSend {
  connection: string;
  roomId: string;
  userId: string;
  messageId: number;
  seq: number | null;
  content: Record<string, unknown>;
  sentAt: number;
  ackedAt: number;
}

export type FaultKind = 'worker-kill' | 'worker-stop' | 'gateway-kill' | 'redis-restart' | 'redis-kill-pubsub' | 'postgres-restart' | 'postgres-terminate';

export interface FaultRecord {
  kind: FaultKind;
  target: string;
  startedAt: number;
  /** When what it broke was whole again (process restarted, service back). */
  endedAt: number | null;
  detail: string;
}
