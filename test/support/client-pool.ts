import { TestClient } from './ws-client';

/** Test clients connected, authenticated and joined to a room, closed together after the file's tests. */
export function clientPool() {
  const clients: TestClient[] = [];
  return {
    async member(port: number, userId: string, roomId: string): Promise<TestClient> {
      const client = await TestClient.connect(port);
      clients.push(client);
      await client.login(userId, roomId);
      return client;
    },
    closeAll(): void {
      for (const client of clients.splice(0)) client.close();
    },
  };
}
