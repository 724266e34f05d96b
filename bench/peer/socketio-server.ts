// The peer a user would pick instead of our gateway: Socket.IO 4 with the Redis adapter,
// rooms and broadcast, doing the same job on the same wire load.
//
// - join: the same membership query as our gateway (gateway/sql/membership.ts), then socket.join(room).
// - send (full path): what an application built on Socket.IO does — one plain insert of
//   the message into its own table (primary key and a (room_id, id) index for history, no
//   outbox, no per-room numbering, no room lock), then io.to(room).emit through the Redis
//   adapter, then the ack with message_id.
// - fan-out-only: the bench publishes with @socket.io/redis-emitter straight into the
//   adapter's Redis channel; this process only receives and broadcasts.
// Defaults everywhere else (ws engine, no compression); websocket transport only.
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { findMembership } from '../../gateway/sql/membership';
import { createSql } from '../../shared/db/client';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const port = Number(process.env.PORT ?? 8090);

const sql = createSql(databaseUrl, { max: 10, applicationName: 'arcyou-bench-socketio' });
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false, adapter: createAdapter(pub, sub) });

await sql`
  CREATE TABLE IF NOT EXISTS bench_socketio_messages (
    id bigserial PRIMARY KEY,
    room_id uuid NOT NULL,
    user_id uuid NOT NULL,
    content jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`;
await sql`CREATE INDEX IF NOT EXISTS bench_socketio_messages_room_idx ON bench_socketio_messages (room_id, id)`;

io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token;
  if (typeof token !== 'string' || !UUID.test(token)) return next(new Error('Unauthorized'));
  socket.data.userId = token.toLowerCase();
  next();
});

type Ack = (reply: Record<string, unknown>) => void;

io.on('connection', (socket) => {
  socket.on('join', async (roomId: unknown, ack: Ack) => {
    try {
      if (typeof roomId !== 'string' || !UUID.test(roomId)) return ack({ success: false, error: 'invalid_request' });
      if (!(await findMembership(sql, roomId, socket.data.userId))) return ack({ success: false, error: 'Forbidden: not a member' });
      await socket.join(roomId);
      ack({ success: true, room_id: roomId });
    } catch (err) {
      ack({ success: false, error: 'unavailable' });
    }
  });

  socket.on('send', async (request: { room_id?: unknown; content?: unknown; temp_id?: string | number }, ack: Ack) => {
    try {
      const roomId = request?.room_id;
      const content = request?.content;
      if (typeof roomId !== 'string' || !socket.rooms.has(roomId)) return ack({ success: false, error: 'Forbidden: not joined' });
      if (typeof content !== 'object' || content === null) return ack({ success: false, error: 'invalid_request' });
      const userId: string = socket.data.userId;
      // No worker to wake: this peer broadcasts the message itself.
      const [stored] = await sql<{ id: number; created_at: string }[]>`
        INSERT INTO bench_socketio_messages (room_id, user_id, content) VALUES (${roomId}, ${userId}, ${sql.json(content as never)})
        RETURNING id, created_at`;
      const { id } = stored!;
      const now = new Date().toISOString();
      io.to(roomId).emit('event', {
        op: 'event',
        type: 'message.created',
        roomId,
        message: { id, user_id: userId, content, created_at: stored!.created_at, temp_id: request.temp_id },
        timestamp: now,
        source: 'live',
      });
      ack({ success: true, message_id: id });
    } catch {
      ack({ success: false, error: 'unavailable' });
    }
  });
});

http.listen(port, '127.0.0.1', () => process.stdout.write(`socket.io peer listening on ${port}\n`));

const stop = () => {
  io.close();
  void Promise.allSettled([sql.end({ timeout: 2 }), pub.quit(), sub.quit()]).then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
