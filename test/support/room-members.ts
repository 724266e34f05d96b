import type { Sql } from '../../shared/db/client';
import { createRoom, newUser } from './fixtures';
import { TestClient } from './ws-client';

/** A new room with `count` members, each connected to the gateway on `port` (member i: the i-th of several, round robin) and joined. */
export async function membersInRoom(
  sql: Sql,
  port: number | readonly number[],
  count: number,
): Promise<{ roomId: string; users: string[]; clients: TestClient[] }> {
  const ports = typeof port === 'number' ? [port] : port;
  const users = Array.from({ length: count }, () => newUser());
  const roomId = await createRoom(sql, users);
  const clients = await Promise.all(
    users.map(async (userId, i) => {
      const client = await TestClient.connect(ports[i % ports.length]!);
      await client.login(userId, roomId);
      return client;
    }),
  );
  return { roomId, users, clients };
}
