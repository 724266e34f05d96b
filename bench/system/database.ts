// A fresh, migrated database for one bench run, and rooms seeded with members in SQL.
import { randomBytes, randomUUID } from 'node:crypto';
import { createSql, type Sql } from '../../shared/db/client';
import { migrate } from '../../shared/db/migrate';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

export async function createBenchDatabase(adminUrl: string, label: string): Promise<BenchDatabase> {
  const name = `arcyou_bench_${label}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = createSql(adminUrl, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const sql = createSql(url.toString(), { max: 4 });
  await migrate(sql);
  return {
    url: url.toString(),
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const admin = createSql(adminUrl, { max: 1 });
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
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
