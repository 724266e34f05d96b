// Membership churn: now and then a member is removed (soft delete) and re-added 1–3 s
// later; sometimes it is removed and re-added in one transaction, which must not evict
// it. Each transaction first locks the room row and reads its last seq: that is the
// change's position in the room. The member's client is told around each real removal
// so that it has no join in flight across it (see ResilientClient.beginRemoval).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../shared/db/client';
import type { Queryable } from '../../shared/db/queryable';
import type { Random } from '../support/frame-fuzzer';
import type { Mutex } from './mutex';
import type { ResilientClient } from './resilient-client';
import type { Member, MembershipChange } from './trace';

export interface ChurnOptions {
  sql: Sql;
  members: Member[];
  clients: Map<string, ResilientClient>;
  random: Random;
  /** Gap between two changes, drawn from 0.5×–1.5× this. */
  intervalMs: number;
  /** Share of changes that are a remove + re-add in one transaction. */
  flipShare: number;
  /** Taken around every transaction: PostgreSQL faults wait for it. */
  postgresGate: Mutex;
  /** Whether the schema has seq (arcyou_chat_rooms.last_seq); without, the position is the room's message count. */
  hasSeq: boolean;
  /** Whether member rows have membership_id (then each change records the one it ended or began). */
  hasMembershipId: boolean;
}

export interface ChurnCounts {
  removed: number;
  readded: number;
  flipped: number;
  /** Removals skipped: the client still had a join in flight, or the removal did not commit. */
  skipped: number;
  /** Transactions whose outcome had to be read back (position unknown). */
  readBack: number;
}

const READ_BACK_PATIENCE_MS = 30_000;

/** Locks the room row and returns its last seq. */
async function lockRoom(tx: Queryable, roomId: string, hasSeq: boolean): Promise<number> {
  if (hasSeq) {
    const [room] = await tx<{ last_seq: number }[]>`SELECT last_seq FROM arcyou_chat_rooms WHERE id = ${roomId} FOR UPDATE`;
    return Number(room!.last_seq);
  }
  await tx`SELECT id FROM arcyou_chat_rooms WHERE id = ${roomId} FOR UPDATE`;
  const [count] = await tx<{ n: number }[]>`SELECT count(*)::int AS n FROM arcyou_chat_messages WHERE room_id = ${roomId}`;
  return count!.n;
}

export class MembershipChurn {
  readonly changes: MembershipChange[] = [];
  readonly counts: ChurnCounts = { removed: 0, readded: 0, flipped: 0, skipped: 0, readBack: 0 };
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly options: ChurnOptions) {}

  start(): void {
    this.running = true;
    this.loop = this.churn();
  }

  /** Resolves once the change under way is over; every member is active again by then. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async churn(): Promise<void> {
    const { random, intervalMs, members, flipShare } = this.options;
    while (this.running) {
      await this.pause(intervalMs * (0.5 + random.next()));
      if (!this.running) break;
      const member = random.pick(members);
      if (random.chance(flipShare)) await this.flip(member);
      else await this.removeAndReadd(member, random.between(1000, 3000));
    }
  }

  /** Sleeps, but not past stop(). */
  private async pause(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.running && Date.now() < until) await sleep(Math.min(50, until - Date.now()));
  }

  private async removeAndReadd(member: Member, awayMs: number): Promise<void> {
    const client = this.options.clients.get(member.userId)!;
    if (!(await client.beginRemoval(5000))) {
      this.counts.skipped++;
      return;
    }
    const removal = await this.options.postgresGate.run(() => this.change(member, 'removed'));
    if (!removal) {
      this.counts.skipped++;
      client.removalAbandoned();
      return;
    }
    this.counts.removed++;
    client.removalCommitted();
    await this.pause(awayMs);
    for (;;) {
      const readd = await this.options.postgresGate.run(() => this.change(member, 'readded'));
      if (readd) break;
      await sleep(200);
    }
    this.counts.readded++;
    client.readded();
  }

  private async flip(member: Member): Promise<void> {
    await this.options.postgresGate.run(() => this.change(member, 'flipped'));
    this.counts.flipped++;
  }

  /** One transaction; returns the recorded change, or null if it did not take effect. */
  private async change(member: Member, kind: MembershipChange['kind']): Promise<MembershipChange | null> {
    const { sql, hasSeq, hasMembershipId } = this.options;
    const { roomId, userId } = member;
    const startedAt = Date.now();
    const record = (position: number | null, membershipId: number | null): MembershipChange => {
      const change = { kind, roomId, userId, startedAt, committedAt: Date.now(), position, membershipId };
      this.changes.push(change);
      return change;
    };
    const membershipOf = async (tx: Queryable) => {
      if (!hasMembershipId) return null;
      const [row] = await tx<{ membership_id: number }[]>`SELECT membership_id FROM arcyou_chat_members WHERE room_id = ${roomId} AND user_id = ${userId}`;
      return Number(row!.membership_id);
    };
    try {
      const [position, membershipId] = await sql.begin(async (tx) => {
        const position = await lockRoom(tx, roomId, hasSeq);
        const before = await membershipOf(tx);
        if (kind !== 'readded') await tx`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${userId}`;
        if (kind !== 'removed') await tx`UPDATE arcyou_chat_members SET deleted_at = NULL WHERE room_id = ${roomId} AND user_id = ${userId}`;
        return [position, kind === 'readded' ? await membershipOf(tx) : before] as const;
      });
      return record(position, membershipId);
    } catch {
      // A connection died under the transaction: whether it committed is read back.
      this.counts.readBack++;
      const removed = await this.readBack(member);
      if (kind === 'flipped') return record(null, null); // the member is active either way
      return removed === (kind === 'removed') ? record(null, null) : null;
    }
  }

  private async readBack(member: Member): Promise<boolean> {
    const deadline = Date.now() + READ_BACK_PATIENCE_MS;
    for (;;) {
      try {
        const [row] = await this.options.sql<{ removed: boolean }[]>`
          SELECT deleted_at IS NOT NULL AS removed FROM arcyou_chat_members WHERE room_id = ${member.roomId} AND user_id = ${member.userId}`;
        return row!.removed;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(200);
      }
    }
  }
}
