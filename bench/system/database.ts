// A fresh, migrated database for one bench run, and rooms seeded with members in SQL.
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../shared/db/client';
import { createFreshDatabase, type FreshDatabase } from '../../shared/db/fresh-database';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export type BenchDatabase = FreshDatabase;

export function createBenchDatabase(adminUrl: string, label: string): Promise<BenchDatabase> {
  return createFreshDatabase(adminUrl, `arcyou_bench_${label}`, { max: 4 });
}

export interface SeededRoom {
  roomId: string;
  userIds: string[];
}

/** A room with `members` fresh users (dev-token auth: the user id is the token). */
export async function seedRoom(sql: Sql, members: number, name: string): Promise<SeededRoom> {
  const userIds = Array.from({ length: members }, () => randomUUID());
  const [room] = await sql<{ id: string }[]>`INSERT INTO arcyou_chat_rooms (name) VALUES (${name}) RETURNING id`;
  await sql`
    INSERT INTO arcyou_chat_members (room_id, user_id)
    SELECT ${room!.id}, u FROM unnest(${userIds}::uuid[]) AS u`;
  return { roomId: room!.id, userIds };
}
