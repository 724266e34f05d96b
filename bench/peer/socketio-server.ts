// The peer a user would pick instead of our gateway: Socket.IO 4 with the Redis adapter,
// rooms and broadcast, doing the same job on the same wire load.
//
// - join: the same membership query as our gateway (gateway/sql/membership.ts), then socket.join(room).
// - send (full path): the same one-transaction insert as our gateway (message + outbox
//   row + room.last_message_id, gateway/sql/insert-message.ts), then io.to(room).emit
//   through the Redis adapter, then the ack with message_id. It skips our worker hop
//   (no claim/publish/mark round), which favours it on latency and CPU.
// - fan-out-only: the bench publishes with @socket.io/redis-emitter straight into the
//   adapter's Redis channel; this process only receives and broadcasts.
// Defaults everywhere else (ws engine, no compression); websocket transport only.
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { insertMessage } from '../../gateway/sql/insert-message';
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
      const stored = await insertMessage(sql, roomId, userId, content as Record<string, unknown>, request.temp_id, false);
      if (stored === null) return ack({ success: false, error: 'Forbidden: not a member' });
      const { id, seq } = stored;
      const now = new Date().toISOString();
      io.to(roomId).emit('event', { op: 'event', type: 'message.created', roomId, message: { id, seq, user_id: userId, content, created_at: now }, timestamp: now, source: 'live' });
      ack({ success: true, message_id: id, seq });
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
